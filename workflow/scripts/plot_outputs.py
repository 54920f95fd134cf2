"""Snakemake script for rule plot_outputs: what a model's deployments produced on its first real
input, eager beside the fastest other deployment (tvdeploy.results.pictures)."""

import pandas as pd

from tvdeploy.files import setup_script_logging
from tvdeploy.results import pictures, plots

log = setup_script_logging(snakemake)
wc = snakemake.wildcards
params = snakemake.params
records = {(p["runtime"], p["variant"]): p["file"] for p in params.predictions}
figure = pictures.outputs_figure(
    pd.read_csv(snakemake.input.latency),
    records,
    wc.model,
    params.task,
    params.run,
    wc.device,
    # None where the model's task names no classes (optical flow).
    snakemake.input.labels[0] if snakemake.input.labels else None,
)
plots.save(figure, snakemake.output[0])
log.info("wrote %s", snakemake.output[0])
