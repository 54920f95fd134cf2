"""Snakemake script for rule preprocess_image: image → float32 NCHW .dat + sidecar JSON."""

from pathlib import Path

from tvdeploy.catalog.weights import sha256_of
from tvdeploy.files import setup_script_logging
from tvdeploy.inputs.dat import sidecar_path, write_dat
from tvdeploy.tasks.classification import preprocess_image

log = setup_script_logging(snakemake)
if Path(snakemake.output.meta) != sidecar_path(snakemake.output.dat):
    raise ValueError("rule preprocess_image: the sidecar must sit beside the .dat with a .json suffix")
spec = snakemake.params.spec
tensor = preprocess_image(snakemake.input.image, spec)
write_dat(
    tensor,
    snakemake.output.dat,
    {
        **spec,
        "spec_id": snakemake.wildcards.spec,
        "image": str(snakemake.input.image),
        "image_sha256": sha256_of(snakemake.input.image),
    },
)
log.info("%s → %s %s", snakemake.input.image, snakemake.output.dat, tuple(tensor.shape))
