# Stage inputs: each user input through its model's task adapter (tvdeploy.tasks) into a .dat
# tensor and its sidecar, one per preprocessing recipe: models with equal recipes share the file.


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
    priority: MODEL_ORDER.shared
    conda:
        "../envs/tvdeploy.yaml"
    params:
        spec=preprocess_params,
    script:
        "../scripts/preprocess_image.py"
