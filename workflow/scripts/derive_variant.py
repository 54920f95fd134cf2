"""Snakemake script for rule derive_torchscript_variant: frozen / optimized / fp16 / channels_last /
fused."""

import torch

from tvdeploy.catalog import ModelInfo
from tvdeploy.harnesses.torchscript import load_torchscript
from tvdeploy.io import atomic_path, read_json, setup_script_logging, write_json_atomic
from tvdeploy.models import (
    build_model,
    check_parity,
    compare_logits,
    logits_of,
    make_variant,
    quiet_torchscript_deprecation,
    traced_if_exact,
)
from tvdeploy.registry import VARIANTS
from tvdeploy.runtime import resolve_device, versions

log = setup_script_logging(snakemake)
wc = snakemake.wildcards
info = ModelInfo(**snakemake.params.info)
torch.set_num_threads(snakemake.threads)
device = resolve_device(wc.device)
rtol = snakemake.params.rtol
atol = snakemake.params.atol
transform = VARIANTS[wc.variant].load_transform

example = torch.randn(info.input_shape, generator=torch.Generator().manual_seed(snakemake.params.seed)).to(device)
eager = build_model(info.model, snakemake.input.weights).to(device).eval()
with torch.inference_mode():
    reference = logits_of(eager(example))

graph = load_torchscript(snakemake.input.plain, device)
graph_source = "scripted"
if VARIANTS[wc.variant].prefers_trace:
    graph, graph_source = traced_if_exact(eager, graph, example, rtol, atol)
    log.info("%s: %s", wc.variant, graph_source)
variant = make_variant(graph, wc.variant)
with atomic_path(snakemake.output.model, suffix=".pt") as tmp, quiet_torchscript_deprecation():
    variant.save(str(tmp))
    # Check what a harness will run: the reloaded file with the variant's load transform.
    deployed = load_torchscript(tmp, device, transform)
    with torch.inference_mode():
        comparison = compare_logits(reference, deployed(example), rtol, atol)
    check_parity(f"{info.model}: eager vs TorchScript {wc.variant} on {device} (random input)", comparison)
log.info("parity eager vs %s: %s", wc.variant, comparison)

write_json_atomic(
    snakemake.output.meta,
    {
        "model": info.model,
        "variant": wc.variant,
        "device": device.type,
        "derived_from": str(snakemake.input.plain),
        "graph": graph_source,
        "load_transform": transform,
        "weights": read_json(snakemake.input.provenance),
        "parity_random_input": comparison,
        "versions": versions(),
    },
)
