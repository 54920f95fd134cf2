# One job per (device, batch size, model): long-lived workers of every deployment, interleaved
# rounds, paired ratios with confidence intervals (tvdeploy.compare, tvdeploy.paired).


rule compare:
    input:
        unpack(comparison_inputs),
    output:
        PLAN.here(paths.COMPARISON),
    log:
        "results/logs/compare/{device}/b{batch}/{model}.log",
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
        deployments=comparison_deployments,
        pairs=comparison_pairs,
    script:
        "../scripts/compare_deployments.py"
