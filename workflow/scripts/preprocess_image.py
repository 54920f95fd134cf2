"""Snakemake script for rules preprocess_image and preprocess_pair: a user's input (an image, a video
model's clip: a video file or frame folder, or an optical-flow pair: its two images in order) → the
model's input tensors, one float32 .dat + sidecar JSON per model argument (layout from its task),
with its task adapter's preprocessing. A bad input raises the adapter's error, which names the
file, before anything is written."""

from pathlib import Path

from tvdeploy.files import setup_script_logging
from tvdeploy.inputs import input_sha256
from tvdeploy.inputs.dat import sidecar_path, write_dat
from tvdeploy.tasks import adapter


def as_list(files) -> list[str]:
    return [files] if isinstance(files, str) else list(files)


log = setup_script_logging(snakemake)
sources = as_list(snakemake.input.image)
outputs = snakemake.output
dats, metas = (
    (as_list(outputs.dats), as_list(outputs.metas)) if "dats" in outputs.keys() else ([outputs.dat], [outputs.meta])
)
if any(Path(meta) != sidecar_path(dat) for dat, meta in zip(dats, metas, strict=True)):
    raise ValueError(f"rule {snakemake.rule}: each sidecar must sit beside its .dat with a .json suffix")
spec = snakemake.params.spec
task = adapter(spec["task"])
tensors = task.preprocess(sources[0] if len(sources) == 1 else sources, spec)
if len(tensors) != len(dats):
    raise ValueError(f"rule {snakemake.rule}: {len(tensors)} model inputs for {len(dats)} outputs {dats}")
# A call of several arguments: each .dat made from its own file (image1 from the pair's first).
per_input = sources if len(sources) == len(dats) else sources * len(dats)
for tensor, dat, source in zip(tensors, dats, per_input, strict=True):
    write_dat(
        tensor,
        dat,
        task.TASK.input_layout,
        {
            **spec,
            "spec_id": snakemake.wildcards.spec,
            "image": str(source),
            "image_sha256": input_sha256(source),
            **({"input": snakemake.wildcards.image, "sources": sources} if len(sources) > 1 else {}),
        },
    )
    log.info("%s → %s %s", source, dat, tuple(tensor.shape))
