"""Snakemake script for rule download_weights: put a model's weights in place, verified."""

from pathlib import Path

from tvdeploy.catalog.models import build_model
from tvdeploy.catalog.sheet import ModelInfo
from tvdeploy.catalog.weights import resolve
from tvdeploy.files import setup_script_logging, write_json_atomic

log = setup_script_logging(snakemake)
info = ModelInfo(**snakemake.params.info)
dest = Path(snakemake.output.weights)
provenance = resolve(
    info,
    mode=snakemake.params.mode,
    dest=dest,
    seed=snakemake.params.seed,
    url=snakemake.params.url,
    timeout_s=snakemake.params.timeout_s,
)
try:
    # Refuse a file torch cannot load safely or whose keys do not fit the architecture.
    build_model(info.model, dest, provenance)  # not the sidecar of an earlier run
except Exception:
    dest.unlink(missing_ok=True)
    raise
provenance.update(model=info.model, file_bytes=dest.stat().st_size)
write_json_atomic(snakemake.output.provenance, provenance)
log.info("weights for %s: %s", info.model, provenance)
