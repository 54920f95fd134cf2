rule infer_python:
    input:
        model=python_model_file,
        labels="results/labels/{model}.txt",
        dats=model_dats,
        sidecars=model_dat_sidecars,
        provenance="data/weights/{model}.json",
    output:
        "results/predictions/{device}/{runtime}/{variant}/{model}.json",
    log:
        "results/logs/infer_python/{device}/{runtime}/{variant}/{model}.log",
    benchmark:
        "results/jobs/infer_python/{device}/{runtime}/{variant}/{model}.tsv"
    wildcard_constraints:
        runtime="eager|ts-python",
    conda:
        "../envs/tvdeploy.yaml"
    threads: 1
    resources:
        mem_mb=run_mem_mb,
    params:
        topk=config["topk"],
        transform=variant_transform,
    script:
        "../scripts/infer_python.py"


rule bench_eager:
    input:
        model="data/weights/{model}.pth",
        dat=bench_dat,
        sidecar=bench_dat_sidecar,
        provenance="data/weights/{model}.json",
    output:
        "results/bench/{device}/eager/{variant}/b{batch}/{model}.json",
    log:
        "results/logs/bench_eager/{device}/{variant}/b{batch}/{model}.log",
    wildcard_constraints:
        variant="none",
    conda:
        "../envs/tvdeploy.yaml"
    threads: bench_threads
    resources:
        mem_mb=run_mem_mb,
        bench_slot=1,
    params:
        runtime="eager",
        bench=config["bench"],
        transform="none",
    script:
        "../scripts/bench_python.py"


rule bench_ts_python:
    input:
        model=torchscript_file,
        dat=bench_dat,
        sidecar=bench_dat_sidecar,
        provenance="data/weights/{model}.json",
    output:
        "results/bench/{device}/ts-python/{variant}/b{batch}/{model}.json",
    log:
        "results/logs/bench_ts_python/{device}/{variant}/b{batch}/{model}.log",
    conda:
        "../envs/tvdeploy.yaml"
    threads: bench_threads
    resources:
        mem_mb=run_mem_mb,
        bench_slot=1,
    params:
        runtime="ts-python",
        bench=config["bench"],
        transform=variant_transform,
    script:
        "../scripts/bench_python.py"
