"""Snakemake script for rule profile_ops: where a model's eager time goes on the CPU, beside the
float32 peak measured right before on the same threads."""

from tvdeploy.harnesses.allocator import restart_under_benchmark_allocator

# The profile times eager in this process: under the heap settings of every benchmark worker,
# which glibc reads only when a process starts.
restart_under_benchmark_allocator()

from tvdeploy.files import setup_script_logging, write_text_atomic  # noqa: E402
from tvdeploy.measure.peak import probe  # noqa: E402
from tvdeploy.measure.profile_ops import report  # noqa: E402

log = setup_script_logging(snakemake)
peak = probe("cpu", snakemake.threads)
log.info("float32 matmul peak: %s GFLOP/s%s", peak["gflop_per_s"], f" ({peak['error']})" if peak["error"] else "")
write_text_atomic(
    snakemake.output[0],
    report(
        snakemake.wildcards.model,
        snakemake.input.weights,
        # One per model argument (optical flow: image1, image2).
        list(snakemake.input.dat),
        snakemake.threads,
        peak["gflop_per_s"],
    ),
)
