rule download_weights:
    output:
        weights="data/weights/{model}.pth",
        provenance="data/weights/{model}.json",
    params:
        info=model_info,
        mode=config["weights"],
        seed=config["weights_seed"],
        url=weights_url,
        timeout_s=config.get("download_timeout_s", 30),
    resources:
        mem_mb=export_mem_mb,
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/download_weights/{model}.log",
    script:
        "../scripts/download_weights.py"


rule export_torchscript:
    input:
        weights="data/weights/{model}.pth",
        provenance="data/weights/{model}.json",
    output:
        model="results/torchscript/plain/{model}.pt",
        meta="results/torchscript/plain/{model}.json",
        labels="results/labels/{model}.txt",
    params:
        info=model_info,
        parity=config["parity"],
        seed=config["weights_seed"],
    threads: 1
    resources:
        mem_mb=export_mem_mb,
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/export_torchscript/{model}.log",
    script:
        "../scripts/export_torchscript.py"
