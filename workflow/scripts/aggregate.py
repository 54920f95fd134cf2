"""Snakemake script for rule aggregate: the result tables."""

from tvdeploy.environment import capture
from tvdeploy.goals import goals_markdown, judge_goals
from tvdeploy.io import atomic_path, read_json, setup_script_logging, write_json_atomic, write_text_atomic
from tvdeploy.tables import (
    deployment_markdown,
    deployment_summary,
    latency_markdown,
    latency_table,
    overhead_table,
    parity_table,
    predictions_table,
    ratios_table,
    throughput_markdown,
    verdict_markdown,
)

log = setup_script_logging(snakemake)
params = snakemake.params
weights_source = {model: read_json(path)["source"] for model, path in params.provenance.items()}


def write_csv(table, dest):
    with atomic_path(dest, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")


def with_run(path, run):
    record = read_json(path)
    record["run"] = run
    return record


# This run's raw results, then those of every other run copied in under results/runs/.
this_run, other = params.run, params.other
comparison_records = [with_run(p, this_run) for p in snakemake.input.comparisons]
comparison_records += [with_run(item["path"], item["run"]) for item in other["comparisons"]]
overhead_records = [with_run(p, this_run) for p in snakemake.input.overhead]
overhead_records += [with_run(item["path"], item["run"]) for item in other["overhead"]]
for item in other["comparisons"]:
    weights_source.setdefault((item["run"], item["model"]), read_json(item["path"]).get("weights_source"))
latency = latency_table(comparison_records)
write_csv(latency, snakemake.output.latency_csv)
ratios = ratios_table(comparison_records)
write_csv(ratios, snakemake.output.ratios)
overhead = overhead_table(overhead_records)
write_csv(overhead, snakemake.output.overhead)

own_records = [r for r in comparison_records + overhead_records if r["run"] == this_run]
environment = capture(snakemake.config, params.repo, [r["environment"] for r in own_records])
environment["run"] = this_run
environment["other_runs"] = sorted({r["run"] for r in comparison_records + overhead_records} - {this_run})
write_json_atomic(snakemake.output.environment, environment)
mixed = len(environment["result_environments"]) > 1
failed = latency[latency["error"].notna()]
write_text_atomic(
    snakemake.output.latency_md,
    "\n".join(
        [
            "# Inference latency\n",
            f"torch {environment['versions']['torch']}, torchvision {environment['versions']['torchvision']}, "
            f"{environment['cpu']['model']} ({environment['cpu']['cores']} cores), "
            f"GPU: {environment['gpu']['name'] or 'none'}; config {environment['config_sha256'][:12]}, "
            f"workflow commit {environment['git']['commit'] or 'unknown'}"
            f"{' (uncommitted changes)' if environment['git']['dirty'] else ''}.\n",
            "**Warning: these results were measured on different machines or software versions "
            f"({environment['result_environments']}); see environment.json.**\n"
            if mixed
            else "",
            "Every deployment of a model was measured in the same job by long-lived workers, one timed block "
            "each per round in a shuffled order; speedups are paired estimates over those rounds.\n",
            latency_markdown(latency),
            throughput_markdown(latency),
            deployment_markdown(deployment_summary(latency, ratios)),
            verdict_markdown(ratios),
            goals_markdown(
                judge_goals(
                    latency[latency["run"] == this_run],
                    ratios[ratios["run"] == this_run],
                    snakemake.config.get("goals", {}),
                    snakemake.config["compare"]["resolution"],
                ),
                snakemake.config["compare"]["resolution"],
            ),
            "### Failed deployments\n\n" + failed[["model", "runtime", "variant", "error"]].to_markdown(index=False)
            if not failed.empty
            else "",
            "### Harness overhead per call (µs, module returning a view)\n",
            overhead.pivot_table(index=["run", "device"], columns="runtime", values="median_us").round(1).to_markdown(),
            "",
        ]
    ),
)

predictions = []
for item in params.predictions:
    record = with_run(item["file"], this_run)
    record.update({k: item[k] for k in ("model", "runtime", "variant", "device")})
    predictions.append(record)
for item in other["predictions"]:
    record = with_run(item["path"], item["run"])
    record.update({k: item[k] for k in ("model", "runtime", "variant", "device")})
    record["weights_source"] = weights_source.get((item["run"], item["model"]))
    predictions.append(record)
parity_records = [with_run(p, this_run) for p in snakemake.input.parity]
parity_records += [with_run(item["path"], item["run"]) for item in other["parity"]]
write_csv(predictions_table(predictions, weights_source), snakemake.output.predictions)
write_csv(parity_table(parity_records, weights_source), snakemake.output.parity)
log.info("wrote %d latency rows, %d ratios", len(latency), len(ratios))
