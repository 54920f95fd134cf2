"""Snakemake script for the plot_* rules: one figure from the result tables (tvdeploy.results.plots)."""

import pandas as pd

from tvdeploy.files import setup_script_logging
from tvdeploy.results import plots

log = setup_script_logging(snakemake)
wc = snakemake.wildcards
params = snakemake.params
figure = plots.draw(
    params.kind,
    pd.read_csv(snakemake.input.latency),
    pd.read_csv(snakemake.input.deployability),
    wc.get("run"),
    wc.get("device"),
    int(wc.batch) if "batch" in wc.keys() else None,
    params.accuracy,
    params.confidence,
)
plots.save(figure, snakemake.output[0])
log.info("wrote %s", snakemake.output[0])
