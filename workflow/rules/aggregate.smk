rule harness_overhead:
    input:
        unpack(overhead_inputs),
    output:
        "results/overhead/{device}/{runtime}.json",
    params:
        bench=config["bench"],
    threads: bench_threads
    resources:
        mem_mb=BASE_MEM_MB,
        bench_slot=1,
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/harness_overhead/{device}/{runtime}.log",
    script:
        "../scripts/harness_overhead.py"


rule check_parity:
    input:
        parity_inputs,
    output:
        "results/parity/{device}/{model}.json",
    params:
        pairs=parity_pairs,
        parity=config["parity"],
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/check_parity/{device}/{model}.log",
    benchmark:
        "results/jobs/check_parity/{device}/{model}.tsv"
    script:
        "../scripts/check_parity.py"


rule aggregate:
    input:
        bench=bench_files(),
        predictions=[item["file"] for item in prediction_items()],
        parity=expand("results/parity/{device}/{model}.json", device=DEVICES, model=MODELS),
        provenance=list(provenance_files().values()),
        overhead=expand("results/overhead/{device}/{runtime}.json", device=DEVICES, runtime=RUNTIMES),
    output:
        environment="results/tables/environment.json",
        overhead="results/tables/overhead.csv",
        latency_csv="results/tables/latency.csv",
        latency_md="results/tables/latency.md",
        predictions="results/tables/predictions.csv",
        parity="results/tables/parity.csv",
    params:
        predictions=prediction_items(),
        provenance=provenance_files(),
        repo=str(REPO_DIR),
        # A config change re-renders environment.json even when no result changed.
        config_sha256=CONFIG_SHA256,
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/jobs/aggregate.tsv"
    script:
        "../scripts/aggregate.py"


rule catalog_doc:
    input:
        latency="results/tables/latency.csv",
        parity="results/tables/parity.csv",
        environment="results/tables/environment.json",
        exports=expand("results/torchscript/plain/{model}.json", model=MODELS),
        export_jobs=expand("results/jobs/export_torchscript/{model}.tsv", model=MODELS),
        job_files=job_benchmark_files(),
        bench=bench_files(),
        aggregate_job="results/jobs/aggregate.tsv",
    output:
        "docs/catalog.md",
    params:
        catalog=catalog_rows,
        mem_mb=export_mem_by_model,
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/catalog_doc.log",
    script:
        "../scripts/render_catalog.py"
