# The C++ runtimes: the infer and bench programs built from cpp/ (harness tvdeploy.harnesses.cpp).
# Their benchmarks run in the comparison jobs (compare.smk), through `bench --mode serve`.


rule build_cpp:
    input:
        cmakelists=CPP_DIR / "CMakeLists.txt",
        sources=lambda wildcards: program_sources(CPP_DIR, wildcards.program),
    output:
        paths.CPP_PROGRAM,
    log:
        "results/logs/build_cpp/{program}.log",
    benchmark:
        "results/jobs/build_cpp/{program}.tsv"
    wildcard_constraints:
        program=alternation(PROGRAMS),
    priority: MODEL_ORDER.shared
    conda:
        "../envs/tvdeploy.yaml"
    threads: 2
    resources:
        mem_mb=BUILD_MEM_MB,
    params:
        build_dir=lambda wildcards: f"{paths.CPP_BUILD_DIR}/tree-{wildcards.program}",
    script:
        "../scripts/build_cpp.py"


rule infer_cpp:
    input:
        infer=paths.CPP_INFER,
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
        "results/logs/infer_cpp/{device}/{runtime}/{variant}/{model}.log",
    benchmark:
        "results/jobs/infer_cpp/{device}/{runtime}/{variant}/{model}.tsv"
    wildcard_constraints:
        runtime=Plan.runtimes_in(CPP),
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
        quantized_engine=lambda wc: PLAN.model(wc.model).quantized_engine,
        topk=config["topk"],
        expected_input=lambda wc: PLAN.expected_input(wc.model),
    script:
        "../scripts/infer_cpp.py"
