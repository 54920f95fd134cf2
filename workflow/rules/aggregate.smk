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
    script:
        "../scripts/check_parity.py"


rule environment:
    output:
        "results/environment.json",
    params:
        repo=str(REPO_DIR),
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/environment.log",
    script:
        "../scripts/environment.py"


rule aggregate:
    input:
        bench=bench_files(),
        predictions=[item["file"] for item in prediction_items()],
        parity=expand("results/parity/{device}/{model}.json", device=DEVICES, model=MODELS),
        provenance=list(provenance_files().values()),
        environment="results/environment.json",
    output:
        latency_csv="results/tables/latency.csv",
        latency_md="results/tables/latency.md",
        predictions="results/tables/predictions.csv",
        parity="results/tables/parity.csv",
    params:
        predictions=prediction_items(),
        provenance=provenance_files(),
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/aggregate.log",
    script:
        "../scripts/aggregate.py"
