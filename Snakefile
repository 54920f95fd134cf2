# tvdeploy: torchvision models → TorchScript, AOTInductor, ONNX, OpenVINO IR → C++ and Python runtimes, benchmarked.
# Wiring only: configuration, rule modules, final targets. The logic is the tvdeploy package
# (src/tvdeploy); workflow/rules/common.smk connects it to the rules.

from snakemake.utils import min_version, validate

from tvdeploy.catalog.sheet import sheet_frame

min_version("9.27")


configfile: "config/config.yaml"


validate(config, "workflow/schemas/config.schema.yaml")
# The model sheet, like a sample sheet: every row checked against its own schema.
validate(sheet_frame(config["model_sheet"]), "workflow/schemas/models.schema.yaml")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/export.smk"
include: "workflow/rules/preprocess.smk"
include: "workflow/rules/cpp.smk"
include: "workflow/rules/python.smk"
include: "workflow/rules/compare.smk"
include: "workflow/rules/aggregate.smk"
include: "workflow/rules/report.smk"


# The localrules directive, given the list defined once in tvdeploy.plan.targets.LOCAL_RULES.
workflow.localrules(*LOCAL_RULES)


rule all:
    default_target: True
    input:
        PLAN.tables(),
        PLAN.plot_files(),
        PLAN.output_picture_files(),
        paths.SUMMARY,
