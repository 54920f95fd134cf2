"""Snakemake script for rule preprocess_image: a user's input (an image, or a video model's clip:
a video file or frame folder) → the model's input tensor as a float32 .dat + sidecar JSON (layout
from its task), with its task adapter's preprocessing. A bad input raises the adapter's error,
which names the file, before anything is written."""

from pathlib import Path

from tvdeploy.files import setup_script_logging
from tvdeploy.inputs import input_sha256
from tvdeploy.inputs.dat import sidecar_path, write_dat
from tvdeploy.tasks import adapter

log = setup_script_logging(snakemake)
if Path(snakemake.output.meta) != sidecar_path(snakemake.output.dat):
    raise ValueError("rule preprocess_image: the sidecar must sit beside the .dat with a .json suffix")
spec = snakemake.params.spec
task = adapter(spec["task"])
(tensor,) = task.preprocess(snakemake.input.image, spec)
write_dat(
    tensor,
    snakemake.output.dat,
    task.TASK.input_layout,
    {
        **spec,
        "spec_id": snakemake.wildcards.spec,
        "image": str(snakemake.input.image),
        "image_sha256": input_sha256(snakemake.input.image),
    },
)
log.info("%s → %s %s", snakemake.input.image, snakemake.output.dat, tuple(tensor.shape))
