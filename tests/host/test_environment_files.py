"""Configuration files that must agree with each other or with the machine."""

import copy

import yaml
from conftest import REPO_ROOT
from jsonschema import Draft202012Validator
from snakemake.utils import update_config


def requirement_lines(path):
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def test_conda_env_pip_list_mirrors_requirements():
    env = yaml.safe_load((REPO_ROOT / "workflow" / "envs" / "tvdeploy.yaml").read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip_section == [*requirement_lines(REPO_ROOT / "requirements.txt"), "-e ../.."]


def test_default_config_is_valid_and_schema_rejects_typos():
    schema = yaml.safe_load((REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    validator = Draft202012Validator(schema)
    assert list(validator.iter_errors(config)) == []
    assert config["models"] == "all" and config["devices"] == ["auto"]
    for bad in (
        {"devices": ["gpu"]},
        {"runtimes": ["onnx"]},
        {"bench": {**config["bench"], "rounds": 0}},
        {"modles": ["resnet18"]},
    ):
        assert list(validator.iter_errors({**config, **bad})), bad


def test_default_profile_limits_benchmarks_to_one_at_a_time():
    profile = yaml.safe_load((REPO_ROOT / "profiles" / "default" / "config.yaml").read_text())
    assert "bench_slot=1" in profile["resources"]


def test_experiment_configs_are_valid_over_the_default():
    """config/perf_goals.yaml, config/gpu.yaml and the others are passed with --configfile on top of
    config.yaml, which Snakemake merges key by key (a partial ``export:`` keeps the default's other keys)."""
    schema = yaml.safe_load((REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    default = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    validator = Draft202012Validator(schema)
    experiments = sorted(p for p in (REPO_ROOT / "config").glob("*.yaml") if p.name != "config.yaml")
    assert {p.name for p in experiments} >= {"perf_goals.yaml", "gpu.yaml"}
    for path in experiments:
        merged = copy.deepcopy(default)
        update_config(merged, yaml.safe_load(path.read_text()))
        assert list(validator.iter_errors(merged)) == [], path.name
