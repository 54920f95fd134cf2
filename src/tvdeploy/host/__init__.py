"""The machine a result comes from: devices and CPU flags (torch-free), the environment
record (versions, hardware, commit) and the SLURM allocation a benchmark ran in."""
