"""Snakemake script for rule environment: record the software and hardware behind the results."""

from tvdeploy.environment import capture
from tvdeploy.io import setup_script_logging, write_json_atomic

log = setup_script_logging(snakemake)
write_json_atomic(snakemake.output[0], capture(snakemake.config, snakemake.params.repo))
