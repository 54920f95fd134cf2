"""Snakemake script for rule export_torchscript: script the model (its plain outputs, as its task
adapter wraps it), check the saved file against eager on a random input, save it."""

import time

import torch

from tvdeploy.build.load import quiet_torchscript_deprecation
from tvdeploy.build.torchscript import script_deployable
from tvdeploy.catalog.models import build_model
from tvdeploy.catalog.sheet import ModelInfo
from tvdeploy.files import atomic_path, read_json, setup_script_logging, write_json_atomic
from tvdeploy.host.environment import versions
from tvdeploy.tasks import adapter, check_parity

log = setup_script_logging(snakemake)
info = ModelInfo(**snakemake.params.info)
task = adapter(info.task)

torch.set_num_threads(snakemake.threads)

net = build_model(info.model, snakemake.input.weights)
example = task.example_inputs(info, 1, snakemake.params.seed)

start = time.perf_counter()
scripted, output_kind = script_deployable(net, example, task)
export_s = time.perf_counter() - start
log.info("scripted %s in %.2f s; forward returns %s", info.model, export_s, output_kind)

with torch.inference_mode():
    reference = task.output_tensor(net(*example))
with atomic_path(snakemake.output.model, suffix=".pt") as tmp, quiet_torchscript_deprecation():
    scripted.save(str(tmp))
    # Check the file that will be deployed, not the in-memory module.
    loaded = torch.jit.load(str(tmp)).eval()
    with torch.inference_mode():
        candidate = task.output_tensor(loaded(*example))
    comparison = task.compare_outputs(reference, candidate, snakemake.params.rtol, snakemake.params.atol)
    check_parity(info.task, f"{info.model}: eager vs exported TorchScript on a random input", comparison)
log.info("parity eager vs TorchScript: %s", comparison)

write_json_atomic(
    snakemake.output.meta,
    {
        "model": info.model,
        "variant": "plain",
        "method": "torch.jit.script",
        "output_kind": output_kind,
        "input_shape": list(info.input_shape),
        "preprocess": {**info.preprocess_spec(), "spec_id": info.spec_id},
        "weights": read_json(snakemake.input.provenance),
        "export_s": export_s,
        "parity_random_input": comparison,
        "versions": versions(),
    },
)
