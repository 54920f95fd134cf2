# One job per (device, batch size, model): long-lived workers of every deployment, interleaved
# rounds, paired ratios with confidence intervals (tvdeploy.measure.compare, tvdeploy.measure.paired).


rule compare:
    input:
        unpack(comparison_inputs),
    output:
        PLAN.here(paths.COMPARISON),
    log:
        "results/logs/compare/{device}/b{batch}/{model}.log",
    priority: model_priority
    conda:
        "../envs/tvdeploy.yaml"
    threads: bench_threads
    resources:
        mem_mb=comparison_mem_mb,
        bench_slot=1,
        # No cpus_per_gpu: with --exclusive SLURM hands over every GPU of the node and
        # multiplies (22.05 then refuses the job); --cpus-per-task asks for the threads.
        gpu=device_gpus,
    params:
        bench=config["bench"],
        compare=config["compare"],
        task=lambda wc: PLAN.model(wc.model).task,
        quantized_engine=lambda wc: PLAN.model(wc.model).quantized_engine,
        expected_input=lambda wc: PLAN.expected_input(wc.model),
        # Each worker's planned size, until its measured one replaces it (tvdeploy.measure.admission).
        worker_mem_mb=run_mem_mb,
        deployments=comparison_deployments,
        pairs=comparison_pairs,
    script:
        "../scripts/compare_deployments.py"


# On request: where a model's eager time goes on the CPU, by kind of operator, beside the
# machine's measured peak (why a model stays far from its compute floor). Timed, so it holds the
# benchmark slot like a comparison.
rule profile_ops:
    input:
        weights=paths.WEIGHTS,
        provenance=paths.WEIGHTS_PROVENANCE,
        dat=bench_dats,
    output:
        PLAN.here(paths.PROFILE),
    log:
        "results/logs/profile_ops/{model}.log",
    conda:
        "../envs/tvdeploy.yaml"
    threads: bench_threads
    resources:
        mem_mb=run_mem_mb,
        bench_slot=1,
    script:
        "../scripts/profile_ops.py"
