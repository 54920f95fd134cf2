rule build_cpp:
    input:
        cmakelists=str(REPO_DIR / "cpp" / "CMakeLists.txt"),
        sources=sorted(str(p) for p in (REPO_DIR / "cpp").rglob("*.[ch]pp")),
    output:
        infer="build/cpp/infer",
        bench="build/cpp/bench",
    log:
        "results/logs/build_cpp.log",
    benchmark:
        "results/jobs/build_cpp.tsv"
    conda:
        "../envs/tvdeploy.yaml"
    threads: 2
    resources:
        mem_mb=4000,
    script:
        "../scripts/build_cpp.py"


rule infer_cpp:
    input:
        infer="build/cpp/infer",
        model=torchscript_file,
        labels="results/labels/{model}.txt",
        dats=model_dats,
        sidecars=model_dat_sidecars,
    output:
        "results/predictions/{device}/ts-cpp/{variant}/{model}.json",
    log:
        "results/logs/infer_cpp/{device}/{variant}/{model}.log",
    benchmark:
        "results/jobs/infer_cpp/{device}/{variant}/{model}.tsv"
    conda:
        "../envs/tvdeploy.yaml"
    threads: 1
    resources:
        mem_mb=run_mem_mb,
    params:
        topk=config["topk"],
        transform=variant_transform,
    shell:
        "{input.infer} --model {input.model} --labels {input.labels} --device {wildcards.device}"
        " --transform {params.transform} --topk {params.topk} --threads {threads}"
        " --output {output} {input.dats} > {log} 2>&1"


rule bench_ts_cpp:
    input:
        bench="build/cpp/bench",
        model=torchscript_file,
        dat=bench_dat,
        sidecar=bench_dat_sidecar,
        provenance="data/weights/{model}.json",
    output:
        "results/bench/{device}/ts-cpp/{variant}/b{batch}/{model}.json",
    log:
        "results/logs/bench_ts_cpp/{device}/{variant}/b{batch}/{model}.log",
    conda:
        "../envs/tvdeploy.yaml"
    threads: bench_threads
    resources:
        mem_mb=run_mem_mb,
        bench_slot=1,
    params:
        bench=config["bench"],
        transform=variant_transform,
    script:
        "../scripts/bench_cpp.py"
