rule download_weights:
    output:
        weights="data/weights/{model}.pth",
        provenance="data/weights/{model}.json",
    params:
        info=model_info,
        mode=config["weights"],
        seed=config["weights_seed"],
        url=weights_url,
        timeout_s=config["download_timeout_s"],
    resources:
        mem_mb=export_mem_mb,
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/download_weights/{model}.log",
    benchmark:
        "results/jobs/download_weights/{model}.tsv"
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
    benchmark:
        "results/jobs/export_torchscript/{model}.tsv"
    script:
        "../scripts/export_torchscript.py"


rule derive_torchscript_variant:
    input:
        plain="results/torchscript/plain/{model}.pt",
        weights="data/weights/{model}.pth",
        provenance="data/weights/{model}.json",
    output:
        model="results/torchscript/{device}/{variant}/{model}.pt",
        meta="results/torchscript/{device}/{variant}/{model}.json",
    wildcard_constraints:
        variant="frozen|optimized|fp16|channels_last",
    params:
        info=model_info,
        parity=config["parity"],
        rtol=variant_rtol,
        seed=config["weights_seed"],
    threads: 1
    resources:
        mem_mb=export_mem_mb,
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/derive_torchscript_variant/{device}/{variant}/{model}.log",
    benchmark:
        "results/jobs/derive_torchscript_variant/{device}/{variant}/{model}.tsv"
    script:
        "../scripts/derive_variant.py"
