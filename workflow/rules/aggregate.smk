rule harness_overhead:
    input:
        unpack(overhead_inputs),
    output:
        "results/overhead/{device}/{runtime}.json",
    log:
        "results/logs/harness_overhead/{device}/{runtime}.log",
    conda:
        "../envs/tvdeploy.yaml"
    threads: bench_threads
    resources:
        mem_mb=BASE_MEM_MB,
        bench_slot=1,
    params:
        bench=config["bench"],
    script:
        "../scripts/harness_overhead.py"


rule check_parity:
    input:
        parity_inputs,
    output:
        "results/parity/{device}/{model}.json",
    log:
        "results/logs/check_parity/{device}/{model}.log",
    benchmark:
        "results/jobs/check_parity/{device}/{model}.tsv"
    conda:
        "../envs/tvdeploy.yaml"
    params:
        pairs=parity_pairs,
        parity=config["parity"],
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
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/jobs/aggregate.tsv"
    conda:
        "../envs/tvdeploy.yaml"
    params:
        predictions=prediction_items(),
        provenance=provenance_files(),
        repo=str(REPO_DIR),
        # A config change re-renders environment.json even when no result changed.
        config_sha256=CONFIG_SHA256,
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
    log:
        "results/logs/catalog_doc.log",
    conda:
        "../envs/tvdeploy.yaml"
    params:
        catalog=catalog_rows,
        mem_mb=export_mem_by_model,
    script:
        "../scripts/render_catalog.py"
