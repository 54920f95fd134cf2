"""Snakemake script for rule derive_torchscript_variant: frozen / optimized / fp16 / channels_last /
fused."""

import torch

from tvdeploy.build.load import load_torchscript
from tvdeploy.build.torchscript import save_first_deployable, traced_if_exact
from tvdeploy.catalog.models import build_model
from tvdeploy.catalog.sheet import ModelInfo
from tvdeploy.files import atomic_path, read_json, setup_script_logging, write_json_atomic
from tvdeploy.harnesses.device import resolve_device
from tvdeploy.host.environment import versions
from tvdeploy.registry import VARIANTS
from tvdeploy.tasks import adapter

log = setup_script_logging(snakemake)
wc = snakemake.wildcards
info = ModelInfo(**snakemake.params.info)
task = adapter(info.task)
torch.set_num_threads(snakemake.threads)
device = resolve_device(wc.device)
rtol = snakemake.params.rtol
atol = snakemake.params.atol
transform = VARIANTS[wc.variant].load_transform

example = tuple(x.to(device) for x in task.example_inputs(info, 1, snakemake.params.seed))
eager = build_model(info.model, snakemake.input.weights).to(device).eval()
with torch.inference_mode():
    reference = task.output_tensor(eager(*example))

scripted = load_torchscript(snakemake.input.plain, device)
candidates = [(scripted, "scripted")]
if VARIANTS[wc.variant].prefers_trace:
    traced, why = traced_if_exact(eager, scripted, example, rtol, atol, task)
    log.info("%s: %s", wc.variant, why)
    if traced is not scripted:
        candidates.insert(0, (traced, why))

with atomic_path(snakemake.output.model, suffix=".pt") as tmp:
    status, attempts = save_first_deployable(candidates, wc.variant, tmp, device, example, reference, rtol, atol, task)
for attempt in attempts:
    log.info("%s from the %s graph: %s", wc.variant, attempt["graph"].split(":")[0], attempt)
if status != "ok":
    log.error("%s of %s does not run or reproduce eager; kept for the run to record", wc.variant, info.model)
last = attempts[-1]

write_json_atomic(
    snakemake.output.meta,
    {
        "model": info.model,
        "variant": wc.variant,
        "device": device.type,
        "derived_from": str(snakemake.input.plain),
        "status": status,
        "graph": last["graph"],
        "load_transform": transform,
        "weights": read_json(snakemake.input.provenance),
        "parity_random_input": last.get("parity_random_input"),
        "attempts": attempts,
        "versions": versions(),
    },
)
