# Stage build: weights downloaded (or seeded random), TorchScript exported and its variants derived,
# and the peers' artifacts (ONNX, OpenVINO IR, AOTInductor packages) built, each with its record
# (tvdeploy.catalog.weights, tvdeploy.build).


rule download_weights:
    output:
        weights=paths.WEIGHTS,
        provenance=paths.WEIGHTS_PROVENANCE,
    log:
        "results/logs/download_weights/{model}.log",
    benchmark:
        "results/jobs/download_weights/{model}.tsv"
    priority: model_priority
    conda:
        "../envs/tvdeploy.yaml"
    resources:
        mem_mb=export_mem_mb,
    params:
        info=model_info,
        mode=config["weights"],
        seed=config["weights_seed"],
        url=weights_url,
        timeout_s=config["download_timeout_s"],
    script:
        "../scripts/download_weights.py"


rule export_torchscript:
    input:
        weights=paths.WEIGHTS,
        provenance=paths.WEIGHTS_PROVENANCE,
    output:
        model=artifact_output(paths.TORCHSCRIPT_PLAIN),
        meta=paths.TORCHSCRIPT_PLAIN_META,
    log:
        "results/logs/export_torchscript/{model}.log",
    benchmark:
        "results/jobs/export_torchscript/{model}.tsv"
    priority: model_priority
    conda:
        "../envs/tvdeploy.yaml"
    threads: 1
    resources:
        mem_mb=export_mem_mb,
    params:
        info=model_info,
        rtol=config["parity"]["rtol"],
        atol=config["parity"]["atol"],
        seed=config["weights_seed"],
    script:
        "../scripts/export_torchscript.py"


# The category names a model's predictions are decoded with, from its weights' metadata; only for
# a model whose task names classes (registry Task.has_labels): a flow model has none, and none is
# asked for (model_labels).
rule write_labels:
    output:
        paths.LABELS,
    log:
        "results/logs/write_labels/{model}.log",
    benchmark:
        "results/jobs/write_labels/{model}.tsv"
    priority: model_priority
    conda:
        "../envs/tvdeploy.yaml"
    params:
        info=model_info,
    script:
        "../scripts/write_labels.py"


rule derive_torchscript_variant:
    input:
        plain=paths.TORCHSCRIPT_PLAIN,
        weights=paths.WEIGHTS,
        provenance=paths.WEIGHTS_PROVENANCE,
    output:
        model=artifact_output(paths.TORCHSCRIPT_DERIVED),
        meta=paths.TORCHSCRIPT_DERIVED_META,
    log:
        "results/logs/derive_torchscript_variant/{device}/{variant}/{model}.log",
    benchmark:
        "results/jobs/derive_torchscript_variant/{device}/{variant}/{model}.tsv"
    wildcard_constraints:
        variant=alternation(derived_variants()),
    priority: model_priority
    conda:
        "../envs/tvdeploy.yaml"
    threads: 1
    resources:
        mem_mb=export_mem_mb,
        gpu=device_gpus,
        cpus_per_gpu=device_cpus_per_gpu,
    params:
        info=model_info,
        rtol=variant_rtol,
        atol=config["parity"]["atol"],
        seed=config["weights_seed"],
    script:
        "../scripts/derive_variant.py"


# The peer runtimes' artifacts (tvdeploy.build.exporters): a folder per model holding the file(s) and
# build.json, whose copy beside it is what the tables read. A model that cannot be exported or
# converted gets a folder with the record alone.
# ONNX from the torch.export-based exporter, dynamic batch.
rule export_onnx:
    input:
        weights=paths.WEIGHTS,
        provenance=paths.WEIGHTS_PROVENANCE,
    output:
        artifact=artifact_output(directory(paths.built_artifact(ONNX))),
        record=paths.built_artifact_record(ONNX),
    log:
        "results/logs/export_onnx/{model}.log",
    benchmark:
        "results/jobs/export_onnx/{model}.tsv"
    priority: model_priority
    conda:
        "../envs/tvdeploy.yaml"
    threads: 1
    resources:
        mem_mb=export_mem_mb,
    params:
        info=model_info,
        artifact=ONNX,
        seed=config["weights_seed"],
        timeout_s=config["export"]["timeout_s"],
    script:
        "../scripts/build_artifact.py"


# OpenVINO IR, converted from the traced module or else from a torch.export program.
rule convert_openvino:
    input:
        weights=paths.WEIGHTS,
        provenance=paths.WEIGHTS_PROVENANCE,
    output:
        artifact=artifact_output(directory(paths.built_artifact(OPENVINO))),
        record=paths.built_artifact_record(OPENVINO),
    log:
        "results/logs/convert_openvino/{model}.log",
    benchmark:
        "results/jobs/convert_openvino/{model}.tsv"
    priority: model_priority
    conda:
        "../envs/tvdeploy.yaml"
    threads: 1
    resources:
        mem_mb=export_mem_mb,
    params:
        info=model_info,
        artifact=OPENVINO,
        seed=config["weights_seed"],
        timeout_s=config["export"]["timeout_s"],
    script:
        "../scripts/build_artifact.py"


# A calibrated variant (int8) of the ONNX or OpenVINO artifact: quantized from the float32 folder
# by the runtime's own tool (tvdeploy.build.quantized), calibrated on the model's first inputs
# (config calibration.inputs).
rule quantize_artifact:
    input:
        source=quantize_source,
        weights_provenance=paths.WEIGHTS_PROVENANCE,
        dats=calibration_dats,
    output:
        artifact=artifact_output(directory(paths.QUANTIZED_ARTIFACT)),
        record=paths.QUANTIZED_ARTIFACT_RECORD,
    log:
        "results/logs/quantize_artifact/{artifact}/{variant}/{model}.log",
    benchmark:
        "results/jobs/quantize_artifact/{artifact}/{variant}/{model}.tsv"
    wildcard_constraints:
        artifact=alternation(QUANTIZED_ARTIFACTS),
        variant=alternation(CALIBRATED_VARIANTS),
    priority: model_priority
    conda:
        "../envs/tvdeploy.yaml"
    threads: 1
    resources:
        mem_mb=export_mem_mb,
    params:
        info=model_info,
        timeout_s=config["export"]["timeout_s"],
    script:
        "../scripts/quantize_artifact.py"


# AOTInductor: torch.export program compiled by Inductor into a .pt2 package for one device (its
# generated code targets this machine's CPU or the GPU) and variant (float32, fp16 on CUDA, or
# int8 on the CPU: quantized by PT2E with torchao's X86InductorQuantizer),
# frozen weights, dynamic batch, the thread count and autotuning of config export.aoti.
rule package_aoti:
    input:
        weights=paths.WEIGHTS,
        provenance=paths.WEIGHTS_PROVENANCE,
        # int8 only: what PT2E calibrates on (the inputs the peers' int8 calibrate on).
        dats=calibration_dats,
    output:
        artifact=artifact_output(directory(paths.built_artifact(AOTI))),
        record=paths.built_artifact_record(AOTI),
    log:
        "results/logs/package_aoti/{device}/{variant}/{model}.log",
    benchmark:
        "results/jobs/package_aoti/{device}/{variant}/{model}.tsv"
    wildcard_constraints:
        variant=alternation(AOTI_BUILT_VARIANTS),
    priority: model_priority
    conda:
        "../envs/tvdeploy.yaml"
    # Inductor compiles the generated C++ with parallel workers.
    threads: 2
    resources:
        mem_mb=export_mem_mb,
        gpu=device_gpus,
        cpus_per_gpu=device_cpus_per_gpu,
    params:
        info=model_info,
        artifact=AOTI,
        seed=config["weights_seed"],
        timeout_s=config["export"]["timeout_s"],
        # Resolved here, so a changed thread count is a changed parameter: the package is rebuilt.
        aoti_threads=PLAN.aoti_threads(workflow.cores),
        aoti_max_autotune=config["export"]["aoti"]["max_autotune"],
        aoti_static_batch=config["export"]["aoti"]["static_batch"],
    script:
        "../scripts/build_artifact.py"
