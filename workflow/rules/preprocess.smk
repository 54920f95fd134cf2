rule preprocess_image:
    input:
        image=image_file,
    output:
        dat=paths.INPUT_DAT,
        meta=paths.INPUT_SIDECAR,
    log:
        "results/logs/preprocess_image/{spec}/{image}.log",
    benchmark:
        "results/jobs/preprocess_image/{spec}/{image}.tsv"
    conda:
        "../envs/tvdeploy.yaml"
    params:
        spec=preprocess_params,
    script:
        "../scripts/preprocess_image.py"
