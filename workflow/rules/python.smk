# The Python runtimes (eager, ts-python, aoti-python, compile, onnxruntime, openvino-python, …): one
# harness module each, named by the registry; predictions decoded by the model's task adapter.
# Their benchmarks run in the comparison jobs (compare.smk).


rule infer_python:
    input:
        model=artifact_file,
        # None where the task names no classes (optical flow).
        labels=model_labels,
        dats=model_dats,
        sidecars=model_dat_sidecars,
        provenance=paths.WEIGHTS_PROVENANCE,
    # A segmentation record keeps its masks beside it (<model>.<i>.mask.dat and .json sidecar,
    # tvdeploy.predict.outputs), written before the record: not declared, as their number follows the
    # images; check_parity reads them through the record, and reruns overwrite them.
    output:
        PLAN.here(paths.PREDICTION),
    log:
        "results/logs/infer_python/{device}/{runtime}/{variant}/{model}.log",
    benchmark:
        "results/jobs/infer_python/{device}/{runtime}/{variant}/{model}.tsv"
    wildcard_constraints:
        runtime=Plan.runtimes_in(PYTHON),
    priority: model_priority
    conda:
        "../envs/tvdeploy.yaml"
    threads: 1
    resources:
        mem_mb=run_mem_mb,
        gpu=device_gpus,
        cpus_per_gpu=device_cpus_per_gpu,
    params:
        task=lambda wc: PLAN.model(wc.model).task,
        runtime=lambda wc: wc.runtime,
        variant=lambda wc: wc.variant,
        topk=config["topk"],
        expected_input=lambda wc: PLAN.expected_input(wc.model),
    script:
        "../scripts/infer_python.py"


# A selected eager-quantized model's float model, predicted by eager alone where the config does
# not select it: the reference of the quantized model's agreement with its float model.
rule infer_float_reference:
    input:
        model=lambda wc: PLAN.artifact(REFERENCE_DEPLOYMENT.runtime, wc.device, REFERENCE_DEPLOYMENT.variant, wc.model),
        labels=model_labels,
        dats=model_dats,
        sidecars=model_dat_sidecars,
        provenance=paths.WEIGHTS_PROVENANCE,
    output:
        PLAN.here(paths.FLOAT_REFERENCE),
    log:
        "results/logs/infer_float_reference/{device}/{model}.log",
    benchmark:
        "results/jobs/infer_float_reference/{device}/{model}.tsv"
    priority: model_priority
    conda:
        "../envs/tvdeploy.yaml"
    threads: 1
    resources:
        mem_mb=run_mem_mb,
        gpu=device_gpus,
        cpus_per_gpu=device_cpus_per_gpu,
    params:
        task=lambda wc: PLAN.model(wc.model).task,
        runtime=REFERENCE_DEPLOYMENT.runtime,
        variant=REFERENCE_DEPLOYMENT.variant,
        topk=config["topk"],
        expected_input=lambda wc: PLAN.expected_input(wc.model),
    script:
        "../scripts/infer_python.py"
