# One job per (device, batch size, model): long-lived workers of every deployment, interleaved
# rounds, paired ratios with confidence intervals (tvdeploy.compare, tvdeploy.paired).


rule compare:
    input:
        unpack(comparison_inputs),
    output:
        paths.COMPARISON,
    log:
        "results/logs/compare/{device}/b{batch}/{model}.log",
    conda:
        "../envs/tvdeploy.yaml"
    threads: bench_threads
    resources:
        mem_mb=comparison_mem_mb,
        bench_slot=1,
        gpu=device_gpus,
        cpus_per_gpu=device_cpus_per_gpu,
    params:
        bench=config["bench"],
        compare=config["compare"],
        deployments=comparison_deployments,
        pairs=comparison_pairs,
    script:
        "../scripts/compare_deployments.py"
