rule download_weights:
    output:
        weights="data/weights/{model}.pth",
        provenance="data/weights/{model}.json",
    log:
        "results/logs/download_weights/{model}.log",
    benchmark:
        "results/jobs/download_weights/{model}.tsv"
    conda:
        "../envs/tvdeploy.yaml"
    resources:
        mem_mb=export_mem_mb,
    params:
        info=model_info,
        mode=config["weights"],
        seed=config["weights_seed"],
        url=weights_url,
        timeout_s=config["download_timeout_s"],
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
    log:
        "results/logs/export_torchscript/{model}.log",
    benchmark:
        "results/jobs/export_torchscript/{model}.tsv"
    conda:
        "../envs/tvdeploy.yaml"
    threads: 1
    resources:
        mem_mb=export_mem_mb,
    params:
        info=model_info,
        parity=config["parity"],
        seed=config["weights_seed"],
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
    log:
        "results/logs/derive_torchscript_variant/{device}/{variant}/{model}.log",
    benchmark:
        "results/jobs/derive_torchscript_variant/{device}/{variant}/{model}.tsv"
    wildcard_constraints:
        variant="frozen|optimized|fp16|channels_last",
    conda:
        "../envs/tvdeploy.yaml"
    threads: 1
    resources:
        mem_mb=export_mem_mb,
    params:
        info=model_info,
        parity=config["parity"],
        rtol=variant_rtol,
        seed=config["weights_seed"],
    script:
        "../scripts/derive_variant.py"
