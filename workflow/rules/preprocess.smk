# Stage inputs: each user input through its model's task adapter (tvdeploy.tasks) into a .dat
# tensor and its sidecar, one per preprocessing recipe: models with equal recipes share the file.
# An image pair (optical flow) gives one .dat per model argument (<pair>.image1.dat, <pair>.image2.dat).


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
    # Images and clips, one file each; a pair's name is preprocess_pair's.
    wildcard_constraints:
        image=alternation(dict.fromkeys([*PLAN.images, *PLAN.clips])),
    priority: MODEL_ORDER.shared
    conda:
        "../envs/tvdeploy.yaml"
    params:
        spec=preprocess_params,
    script:
        "../scripts/preprocess_image.py"


rule preprocess_pair:
    input:
        image=image_file,
    output:
        dats=[paths.INPUT_MEMBER_DAT.replace("{input}", name) for name in PAIR_INPUTS],
        metas=[paths.INPUT_MEMBER_SIDECAR.replace("{input}", name) for name in PAIR_INPUTS],
    log:
        "results/logs/preprocess_pair/{spec}/{image}.log",
    benchmark:
        "results/jobs/preprocess_pair/{spec}/{image}.tsv"
    wildcard_constraints:
        image=alternation(PLAN.pairs) if PLAN.pairs else "(?!)",
    priority: MODEL_ORDER.shared
    conda:
        "../envs/tvdeploy.yaml"
    params:
        spec=preprocess_params,
    script:
        "../scripts/preprocess_image.py"
