# Figures and the one-page summary of a run, from the tables only: rebuilding them measures
# nothing. Each figure goes into `snakemake --report` with its caption (workflow/report/*.rst).


rule plot_latency:
    input:
        latency=paths.TABLES["latency_csv"],
        ratios=paths.TABLES["ratios"],
        deployability=paths.TABLES["deployability"],
    output:
        report(
            paths.PLOTS_PER_BATCH["latency"],
            caption="../report/latency.rst",
            category="Latency",
            subcategory="{run} · {device}, batch {batch}",
        ),
    log:
        "results/logs/plots/{run}/{device}/b{batch}/latency.log",
    conda:
        "../envs/tvdeploy.yaml"
    params:
        kind="latency",
        accuracy=PLAN.published_accuracy(),
        confidence=config["compare"]["confidence"],
    script:
        "../scripts/plot.py"


use rule plot_latency as plot_speedup with:
    output:
        report(
            paths.PLOTS_PER_BATCH["speedup"],
            caption="../report/speedup.rst",
            category="Speedup",
            subcategory="{run} · {device}, batch {batch}",
        ),
    log:
        "results/logs/plots/{run}/{device}/b{batch}/speedup.log",
    params:
        kind="speedup",
        accuracy=PLAN.published_accuracy(),
        confidence=config["compare"]["confidence"],


use rule plot_latency as plot_accuracy with:
    output:
        report(
            paths.PLOTS_PER_BATCH["accuracy"],
            caption="../report/accuracy.rst",
            category="Accuracy vs latency",
            subcategory="{run} · {device}, batch {batch}",
        ),
    log:
        "results/logs/plots/{run}/{device}/b{batch}/accuracy.log",
    params:
        kind="accuracy",
        accuracy=PLAN.published_accuracy(),
        confidence=config["compare"]["confidence"],


use rule plot_latency as plot_throughput with:
    output:
        report(
            paths.PLOTS_PER_DEVICE["throughput"],
            caption="../report/throughput.rst",
            category="Latency",
            subcategory="{run} · {device}, every batch size",
        ),
    log:
        "results/logs/plots/{run}/{device}/throughput.log",
    params:
        kind="throughput",
        accuracy=PLAN.published_accuracy(),
        confidence=config["compare"]["confidence"],


use rule plot_latency as plot_deployability with:
    output:
        report(
            paths.PLOTS_PER_DEVICE["deployability"],
            caption="../report/deployability.rst",
            category="Deployability",
            subcategory="{run} · {device}",
        ),
    log:
        "results/logs/plots/{run}/{device}/deployability.log",
    params:
        kind="deployability",
        accuracy=PLAN.published_accuracy(),
        confidence=config["compare"]["confidence"],


use rule plot_latency as plot_runs with:
    output:
        report(
            paths.PLOT_RUNS,
            caption="../report/runs.rst",
            category="Runs compared",
            subcategory="batch {batch}",
        ),
    log:
        "results/logs/plots/runs_b{batch}.log",
    params:
        kind="runs",
        accuracy=PLAN.published_accuracy(),
        confidence=config["compare"]["confidence"],


# What each model's deployments produced on its first real input, drawn by its task adapter: eager
# beside the fastest other deployment (tvdeploy.results.pictures). Reads this run's prediction
# records, so it is drawn for this run alone.
rule plot_outputs:
    input:
        latency=paths.TABLES["latency_csv"],
        predictions=model_prediction_files,
        # The inputs' sidecars name the source image, clip or pair the picture is drawn over.
        sidecars=model_dat_sidecars,
        labels=model_labels,
    output:
        report(
            PLAN.here(paths.OUTPUT_PICTURE),
            caption="../report/outputs.rst",
            category="Outputs",
            subcategory=PLAN.here("{run} · {device}"),
        ),
    log:
        PLAN.here("results/logs/plots/{run}/{device}/outputs/{model}.log"),
    conda:
        "../envs/tvdeploy.yaml"
    params:
        run=PLAN.run,
        task=lambda wc: PLAN.model(wc.model).task,
        predictions=lambda wc: PLAN.model_predictions(wc.device, wc.model),
    script:
        "../scripts/plot_outputs.py"


rule summary:
    input:
        latency=paths.TABLES["latency_csv"],
        ratios=paths.TABLES["ratios"],
        deployability=paths.TABLES["deployability"],
        environment=paths.TABLES["environment"],
        labeled_accuracy=paths.TABLES["accuracy"],
        float_agreement=paths.TABLES["float_agreement"],
    output:
        report(paths.SUMMARY, caption="../report/summary.rst", category="Summary"),
    log:
        "results/logs/summary.log",
    conda:
        "../envs/tvdeploy.yaml"
    params:
        accuracy=PLAN.published_accuracy(),
        accuracy_floor=config["accuracy_floor"],
    script:
        "../scripts/summarize.py"
