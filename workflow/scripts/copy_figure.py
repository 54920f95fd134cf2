"""Snakemake script for rule readme_figure: the figure the README shows, copied atomically."""

import shutil

from tvdeploy.files import atomic_path, setup_script_logging

log = setup_script_logging(snakemake)
with atomic_path(snakemake.output[0], suffix=".png") as tmp:
    shutil.copyfile(snakemake.input[0], tmp)
log.info("copied %s to %s", snakemake.input[0], snakemake.output[0])
