rule preprocess_image:
    input:
        image=image_file,
    output:
        dat="results/inputs/{spec}/{image}.dat",
        meta="results/inputs/{spec}/{image}.json",
    params:
        spec=preprocess_params,
    conda:
        "../envs/tvdeploy.yaml"
    log:
        "results/logs/preprocess_image/{spec}/{image}.log",
    benchmark:
        "results/jobs/preprocess_image/{spec}/{image}.tsv"
    script:
        "../scripts/preprocess_image.py"
