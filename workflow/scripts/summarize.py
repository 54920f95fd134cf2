"""Snakemake script for rule summary: results/summary.md from the result tables."""

import pandas as pd

from tvdeploy.files import read_json, setup_script_logging, write_text_atomic
from tvdeploy.results.summary import summary_markdown

log = setup_script_logging(snakemake)
text = summary_markdown(
    pd.read_csv(snakemake.input.latency),
    pd.read_csv(snakemake.input.ratios),
    pd.read_csv(snakemake.input.deployability),
    read_json(snakemake.input.environment),
    snakemake.params.accuracy,
    pd.read_csv(snakemake.input.labeled_accuracy),
    snakemake.params.accuracy_floor,
    pd.read_csv(snakemake.input.float_agreement),
)
write_text_atomic(snakemake.output[0], text)
log.info("wrote %s", snakemake.output[0])
