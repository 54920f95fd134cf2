rule infer_python:
    input:
        model=python_model_file,
        labels="results/labels/{model}.txt",
        dats=model_dats,
        sidecars=model_dat_sidecars,
        provenance="data/weights/{model}.json",
    output:
        "results/predictions/{device}/{runtime}/{variant}/{model}.json",
    wildcard_constraints:
        runtime="eager|ts-python",
    params:
        topk=config["topk"],
        transform=variant_transform,
    threads: 1
    resources:
        mem_mb=run_mem_mb,
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/infer_python/{device}/{runtime}/{variant}/{model}.log",
    benchmark:
        "results/jobs/infer_python/{device}/{runtime}/{variant}/{model}.tsv"
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
    wildcard_constraints:
        variant="none",
    params:
        runtime="eager",
        bench=config["bench"],
        transform="none",
    threads: bench_threads
    resources:
        mem_mb=run_mem_mb,
        bench_slot=1,
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/bench_eager/{device}/{variant}/b{batch}/{model}.log",
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
    params:
        runtime="ts-python",
        bench=config["bench"],
        transform=variant_transform,
    threads: bench_threads
    resources:
        mem_mb=run_mem_mb,
        bench_slot=1,
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/bench_ts_python/{device}/{variant}/b{batch}/{model}.log",
    script:
        "../scripts/bench_python.py"
