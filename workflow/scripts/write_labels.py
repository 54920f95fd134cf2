"""Snakemake script for rule write_labels: the category names of a model's weights, one per line,
which its predictions are decoded with. Asked for only where the model's task names classes
(registry Task.has_labels); weights that list none fail the job rather than write an empty file."""

from tvdeploy.catalog.models import categories
from tvdeploy.catalog.sheet import ModelInfo
from tvdeploy.files import setup_script_logging, write_text_atomic
from tvdeploy.registry import task

log = setup_script_logging(snakemake)
info = ModelInfo(**snakemake.params.info)
if not task(info.task).has_labels:
    raise ValueError(f"{info.model}: its task {info.task!r} names no classes, so it has no labels file")
names = categories(info.model)
if not names:
    raise ValueError(f"{info.model}: its weights' metadata lists no categories")
write_text_atomic(snakemake.output[0], "\n".join(names) + "\n")
log.info("%s: %d labels", info.model, len(names))
