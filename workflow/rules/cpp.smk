# The C++ runtimes: the infer and bench programs built from cpp/ (harness tvdeploy.harnesses.cpp).


rule build_cpp:
    input:
        cmakelists=CPP_DIR / "CMakeLists.txt",
        sources=source_files(CPP_DIR),
    output:
        infer=paths.CPP_INFER,
        bench=paths.CPP_BENCH,
    log:
        "results/logs/build_cpp.log",
    benchmark:
        "results/jobs/build_cpp.tsv"
    conda:
        "../envs/tvdeploy.yaml"
    threads: 2
    resources:
        mem_mb=BUILD_MEM_MB,
    script:
        "../scripts/build_cpp.py"


rule infer_cpp:
    input:
        infer=paths.CPP_INFER,
        model=artifact_file,
        labels=paths.LABELS,
        dats=model_dats,
        sidecars=model_dat_sidecars,
        provenance=paths.WEIGHTS_PROVENANCE,
    output:
        paths.PREDICTION,
    log:
        "results/logs/infer_cpp/{device}/{runtime}/{variant}/{model}.log",
    benchmark:
        "results/jobs/infer_cpp/{device}/{runtime}/{variant}/{model}.tsv"
    wildcard_constraints:
        runtime=Plan.runtimes_in(CPP),
    conda:
        "../envs/tvdeploy.yaml"
    threads: 1
    resources:
        mem_mb=run_mem_mb,
    params:
        topk=config["topk"],
    script:
        "../scripts/infer_cpp.py"


rule bench_cpp:
    input:
        bench=paths.CPP_BENCH,
        model=artifact_file,
        dat=bench_dat,
        sidecar=bench_dat_sidecar,
        provenance=paths.WEIGHTS_PROVENANCE,
    output:
        paths.BENCH,
    log:
        "results/logs/bench_cpp/{device}/{runtime}/{variant}/b{batch}/{model}.log",
    wildcard_constraints:
        runtime=Plan.runtimes_in(CPP),
    conda:
        "../envs/tvdeploy.yaml"
    threads: bench_threads
    resources:
        mem_mb=run_mem_mb,
        bench_slot=1,
    params:
        bench=config["bench"],
    script:
        "../scripts/bench_cpp.py"
