"""Memory each job plans for, from its model's size (Snakemake ``resources: mem_mb``). Torch-free.

The weights are held about four times while exporting (state_dict, model, scripted module,
serialisation buffer) and twice when running; activations grow with the input's pixels (a video
clip's: every frame's) and the batch. The interpreter and LibTorch come on top. Checked against
measured peaks of the full 80-model run (docs/generated/catalog.md, column "export peak RSS" vs "planned mem_mb").
"""

from __future__ import annotations

import math

from tvdeploy.catalog.sheet import ModelInfo

BASE_MEM_MB = 1500
ACTIVATION_MB_PER_KILOPIXEL = 1.0
BYTES_PER_PARAM = 4
BYTES_PER_MB = 1e6
EXPORT_WEIGHT_COPIES = 4
RUN_WEIGHT_COPIES = 2
# The C++ build: two translation units of LibTorch headers compiled at once.
BUILD_MEM_MB = 4000
# GPUs a job on each device asks its scheduler for (Snakemake's standard ``gpu`` resource, which
# the SLURM executor turns into ``--gpus``). Local runs do not limit it.
GPUS_PER_JOB = {"cpu": 0, "cuda": 1}


def weights_mb(info: ModelInfo) -> float:
    return info.num_params * BYTES_PER_PARAM / BYTES_PER_MB


def activation_mb(info: ModelInfo, batch: int = 1) -> float:
    """Activations of ``batch`` inputs of the model's example shape: its crop, or where the input
    follows the image (segmentation) the preset's shorter side at 3:4 (520 x 694); a clip's pixels
    are its frames' (T x H x W: 16 x 112 x 112 for r3d_18)."""
    pixels = math.prod(info.input_shape[2:])
    return ACTIVATION_MB_PER_KILOPIXEL * pixels / 1000 * batch


def export_mem_mb(info: ModelInfo) -> int:
    """Downloading, exporting and deriving variants."""
    return int(BASE_MEM_MB + EXPORT_WEIGHT_COPIES * weights_mb(info) + activation_mb(info))


def run_mem_mb(info: ModelInfo, batch: int = 1) -> int:
    """Inference and benchmarks at ``batch``."""
    return int(BASE_MEM_MB + RUN_WEIGHT_COPIES * weights_mb(info) + activation_mb(info, batch))


def gpus(device: str) -> int:
    """GPUs one job on ``device`` asks for."""
    return GPUS_PER_JOB[device]


def cpus_per_gpu(device: str, threads: int) -> int:
    """CPU cores to ask per GPU (SLURM ``--cpus-per-gpu``): the job's threads on a GPU, and 0
    (the executor then asks ``--cpus-per-task``) on the CPU."""
    return threads if gpus(device) else 0
