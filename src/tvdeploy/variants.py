"""Names of the TorchScript deployment variants (torch-free: the Snakefile imports this)."""

VARIANTS = ("plain", "frozen", "optimized", "fp16", "channels_last")
# Half precision on a CPU is emulated or unsupported for many ops: not a deployment option there.
CUDA_ONLY_VARIANTS = ("fp16",)
# optimize_for_inference output (MKLDNN-prepacked weights on CPU) cannot be saved and
# reloaded, so the "optimized" file is frozen and every harness optimises it when loading.
LOAD_TRANSFORMS = {"optimized": "optimize_for_inference"}


def load_transform(variant: str) -> str:
    return LOAD_TRANSFORMS.get(variant, "none")


def variants_for_device(variants, device: str) -> list[str]:
    return [v for v in variants if device == "cuda" or v not in CUDA_ONLY_VARIANTS]
