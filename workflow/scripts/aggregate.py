"""Snakemake script for rule aggregate: the result tables."""

from tvdeploy.io import atomic_path, read_json, setup_script_logging, write_text_atomic
from tvdeploy.tables import latency_markdown, latency_table, parity_table, predictions_table

log = setup_script_logging(snakemake)
params = snakemake.params
weights_source = {model: read_json(path)["source"] for model, path in params.provenance.items()}


def write_csv(table, dest):
    with atomic_path(dest, suffix=".csv") as tmp:
        table.to_csv(tmp, index=False, float_format="%.6g")


latency = latency_table([read_json(path) for path in snakemake.input.bench])
write_csv(latency, snakemake.output.latency_csv)
environment = read_json(snakemake.input.environment)
write_text_atomic(snakemake.output.latency_md, (
    "# Inference latency\n\n"
    f"torch {environment['versions']['torch']}, torchvision {environment['versions']['torchvision']}, "
    f"{environment['cpu']['model']} ({environment['cpu']['cores']} cores), "
    f"GPU: {environment['gpu']['name'] or 'none'}; config {environment['config_sha256'][:12]}, "
    f"workflow commit {environment['git']['commit'] or 'unknown'}.\n\n"
    + latency_markdown(latency)
))

predictions = []
for item in params.predictions:
    record = read_json(item["file"])
    record.update({k: item[k] for k in ("model", "runtime", "variant", "device")})
    predictions.append(record)
write_csv(predictions_table(predictions, weights_source), snakemake.output.predictions)
write_csv(parity_table([read_json(p) for p in snakemake.input.parity], weights_source), snakemake.output.parity)
log.info("wrote %d latency rows", len(latency))
