"""The parts a Plan composes (tvdeploy.plan.*): deployments as registry values, pairs named by
them, config checks worded by the registry, and rule names that exist in the workflow."""

import copy
import re

import pytest
import yaml
from conftest import REPO_ROOT

from tvdeploy.plan import ConfigError, Plan
from tvdeploy.plan.config import check_registry_names
from tvdeploy.plan.deployments import CrossProduct
from tvdeploy.plan.pairs import comparison_pairs, parity_pairs, reference_name
from tvdeploy.registry import BUILT_ARTIFACTS, RUNTIMES, VARIANTS, Deployment

DEFAULT = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
RULE_FILES = sorted((REPO_ROOT / "workflow" / "rules").glob("*.smk"))
RULES = {name for path in RULE_FILES for name in re.findall(r"^rule (\w+):", path.read_text(), re.M)}


def plan(gpu=False, **overrides):
    config = copy.deepcopy(DEFAULT)
    config.update({"models": ["resnet18", "inception_v3"], **overrides})
    return Plan.from_config(config, REPO_ROOT, has_gpu=lambda: gpu)


def test_the_cross_product_is_registry_deployments_placed_on_devices():
    cross = CrossProduct(("cpu", "cuda"), ("eager", "ts-cpp", "aoti-python"), ("plain", "fp16", "cudagraphs"))
    placed = cross.placed()
    assert all(isinstance(p.deployment, Deployment) for p in placed)
    on_cpu = [p.deployment.key for p in placed if p.device == "cpu"]
    assert on_cpu == ["eager/plain", "ts-cpp/plain", "aoti-python/plain"]
    assert Deployment("ts-cpp", "fp16") in cross.on("cuda") and Deployment("ts-cpp", "fp16") not in cross.on("cpu")
    assert {p.runtime for p in cross.placed("cpp")} == {"ts-cpp"}
    assert {p.artifact for p in cross.loading("aoti")} == {"aoti"}
    # The Plan's tuples are the same deployments.
    p = plan(gpu=True, devices=["cpu", "cuda"], runtimes=list(RUNTIMES), variants=list(VARIANTS))
    assert p.deployments() == [x.astuple() for x in p.cross_product.placed()]
    for device in p.devices:
        assert p.comparison_deployments(device) == [(d.runtime, d.variant) for d in p.cross_product.on(device)]


def test_pairs_name_deployments_of_the_run():
    p = plan(gpu=True, devices=["cpu", "cuda"], runtimes=list(RUNTIMES), variants=["plain", "fp16", "cudagraphs"])
    for device in p.devices:
        present = set(p.cross_product.on(device))
        for pair in comparison_pairs(p.cross_product, device):
            assert {Deployment(*pair["candidate"]), Deployment(*pair["reference"])} <= present
        for pair in parity_pairs(p.cross_product, p.config["parity"], device):
            assert pair.candidate in present and pair.reference in present
    # A reference running its artifact as built is named by its runtime alone, else by its key.
    assert reference_name(Deployment("eager")) == "eager"
    assert reference_name(Deployment("aoti-python", "fp16")) == "aoti-python/fp16"
    assert reference_name(Deployment("ts-python", "plain")) == "ts-python/plain"
    # ... and read back as the deployment it names (the deployability table's reference chain).
    for reference in (Deployment("eager"), Deployment("aoti-python", "fp16"), Deployment("onnxruntime", "int8")):
        assert Deployment.from_name(reference_name(reference)) == reference


def test_config_names_are_checked_against_the_registry():
    with pytest.raises(ConfigError, match="variants: unknown variant 'fp32' \\(known: plain, "):
        check_registry_names({"runtimes": ["eager"], "variants": ["plain", "fp32"]})
    with pytest.raises(ConfigError, match=f"runtimes: unknown runtime 'onnx' \\(known: {', '.join(RUNTIMES)}\\)"):
        check_registry_names({"runtimes": ["onnx"], "variants": ["plain"]})
    check_registry_names({"runtimes": list(RUNTIMES), "variants": list(VARIANTS)})


def test_every_rule_a_target_names_exists_in_the_workflow():
    p = plan(gpu=True, devices=["cpu", "cuda"], runtimes=list(RUNTIMES), variants=list(VARIANTS))
    assert set(p.job_wildcards()) <= RULES
    assert set(BUILT_ARTIFACTS.values()) <= set(p.job_wildcards())


def test_a_run_without_a_cpp_runtime_builds_no_cpp_program():
    """Every job file is an input of the tables: a listed build would be run for its file alone."""
    assert plan(runtimes=["eager", "ts-python"]).job_wildcards()["build_cpp"] == []
    assert len(plan(runtimes=["eager", "ts-cpp"]).job_wildcards()["build_cpp"]) == 2
