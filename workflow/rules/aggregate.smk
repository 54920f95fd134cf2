# Stage results: the harness overhead probe, parity of every deployment against its reference on
# the real inputs (the task's metric), and the tables over every run present (tvdeploy.results).


rule harness_overhead:
    input:
        unpack(overhead_inputs),
    output:
        PLAN.here(paths.OVERHEAD),
    log:
        "results/logs/harness_overhead/{device}/{runtime}.log",
    conda:
        "../envs/tvdeploy.yaml"
    threads: bench_threads
    resources:
        mem_mb=BASE_MEM_MB,
        bench_slot=1,
        # No cpus_per_gpu: with --exclusive SLURM hands over every GPU of the node and
        # multiplies (22.05 then refuses the job); --cpus-per-task asks for the threads.
        gpu=device_gpus,
    params:
        bench=config["bench"],
    script:
        "../scripts/harness_overhead.py"


rule check_parity:
    input:
        parity_inputs,
    output:
        PLAN.here(paths.PARITY),
    log:
        "results/logs/check_parity/{device}/{model}.log",
    benchmark:
        "results/jobs/check_parity/{device}/{model}.tsv"
    priority: model_priority
    conda:
        "../envs/tvdeploy.yaml"
    params:
        task=lambda wc: PLAN.model(wc.model).task,
        pairs=parity_pairs,
        atol=config["parity"]["atol"],
    script:
        "../scripts/check_parity.py"


rule aggregate:
    input:
        comparisons=PLAN.comparison_files(),
        predictions=[item["file"] for item in PLAN.prediction_items()],
        float_references=[item["file"] for item in PLAN.float_reference_items()],
        parity=PLAN.parity_files(),
        provenance=list(PLAN.provenance_files().values()),
        overhead=PLAN.overhead_files(),
        builds=[item["record"] for item in build_items()],
        build_jobs=[item["job"] for item in build_items()],
        # Every job's benchmark file: where the run's time went (environment.json, the summary).
        jobs=job_benchmark_files(),
        # Runs copied in from other machines: read only, so their changes re-aggregate.
        other_runs=PLAN.other_measurement_files(),
    output:
        environment=report(paths.TABLES["environment"], caption="../report/tables.rst", category="Environment"),
        overhead=paths.TABLES["overhead"],
        latency_csv=report(paths.TABLES["latency_csv"], caption="../report/tables.rst", category="Latency"),
        latency_md=paths.TABLES["latency_md"],
        ratios=report(paths.TABLES["ratios"], caption="../report/tables.rst", category="Speedup"),
        predictions=paths.TABLES["predictions"],
        parity=report(paths.TABLES["parity"], caption="../report/tables.rst", category="Parity"),
        deployability=report(paths.TABLES["deployability"], caption="../report/tables.rst", category="Deployability"),
        builds=report(paths.TABLES["builds"], caption="../report/tables.rst", category="Deployability"),
        accuracy=report(paths.TABLES["accuracy"], caption="../report/tables.rst", category="Accuracy"),
        float_agreement=report(paths.TABLES["float_agreement"], caption="../report/tables.rst", category="Accuracy"),
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/jobs/aggregate.tsv"
    conda:
        "../envs/tvdeploy.yaml"
    params:
        predictions=PLAN.prediction_items(),
        float_references=PLAN.float_reference_items(),
        float_counterparts=PLAN.float_counterparts(),
        provenance=PLAN.provenance_files(),
        builds=build_items(),
        run=PLAN.run,
        gmacs=PLAN.gmacs(),
        quantized=PLAN.quantized_models(),
        tasks=PLAN.tasks(),
        other=PLAN.other_measurements(),
        not_run=PLAN.not_run(),
        image_labels=PLAN.image_labels,
        repo=workflow.basedir,
        # A config change re-renders environment.json even when no result changed.
        config_sha256=CONFIG_SHA256,
    script:
        "../scripts/aggregate.py"


rule catalog_doc:
    input:
        latency=paths.TABLES["latency_csv"],
        ratios=paths.TABLES["ratios"],
        parity=paths.TABLES["parity"],
        deployability=paths.TABLES["deployability"],
        builds=paths.TABLES["builds"],
        environment=paths.TABLES["environment"],
        exports=expand(paths.TORCHSCRIPT_PLAIN_META, model=PLAN.models),
        export_jobs=expand(rules.export_torchscript.benchmark, model=PLAN.models),
        job_files=job_benchmark_files(),
        comparisons=PLAN.comparison_files(),
        aggregate_job=rules.aggregate.benchmark,
    output:
        paths.CATALOG_DOC,
    log:
        "results/logs/catalog_doc.log",
    conda:
        "../envs/tvdeploy.yaml"
    params:
        run=PLAN.run,
        catalog=PLAN.catalog_rows(),
        mem_mb={m: PLAN.export_mem_mb(m) for m in PLAN.models},
        goals=config.get("goals", {}),
        resolution=config["compare"]["resolution"],
    script:
        "../scripts/render_catalog.py"


# The README's figure, from a whole-catalog run (on request, like docs/generated/catalog.md).
rule readme_figure:
    input:
        PLAN.readme_figure_source(),
    output:
        paths.README_FIGURE,
    log:
        "results/logs/readme_figure.log",
    conda:
        "../envs/tvdeploy.yaml"
    script:
        "../scripts/copy_figure.py"
