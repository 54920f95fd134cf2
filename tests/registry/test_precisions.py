"""The precision registry (tvdeploy.registry.precisions): every variant computes in a declared
precision, and what a CPU runs natively follows from its flags, for the variants, the plan's
skips and the peak probe alike."""

import pytest

from tvdeploy.plan.deployments import CrossProduct
from tvdeploy.registry import PRECISIONS, VARIANTS, precision
from tvdeploy.registry.precisions import BFLOAT16, FLOAT16, FLOAT32, INT8, skip_reason
from tvdeploy.results.efficiency import precision_of

AMX = {"avx512f", "avx512_bf16", "amx_bf16", "amx_int8", "avx512_vnni"}
AVX512_VNNI = {"avx512f", "avx512_vnni"}
AVX2 = {"avx2", "fma"}


def test_every_variant_computes_in_a_registered_precision():
    assert {v.precision for v in VARIANTS.values()} <= set(PRECISIONS)
    assert (VARIANTS["plain"].precision, VARIANTS["bf16"].precision, VARIANTS["fp16"].precision) == (
        FLOAT32,
        BFLOAT16,
        FLOAT16,
    )
    # A variant needs of the CPU what its precision needs.
    assert VARIANTS["bf16"].native_cpu_flags == PRECISIONS[BFLOAT16].native_cpu_flags
    assert VARIANTS["fused"].native_cpu_flags == ()


@pytest.mark.parametrize(
    ("flags", "native"),
    [
        (AMX, {FLOAT32, BFLOAT16, INT8}),
        (AVX512_VNNI, {FLOAT32, INT8}),
        (AVX2, {FLOAT32}),
    ],
)
def test_a_cpu_runs_natively_what_its_flags_name(flags, native):
    assert {p for p in PRECISIONS if skip_reason(p, "cpu", flags) is None} == native
    # A GPU is never skipped up front: one that lacks a precision fails where it is used.
    assert all(skip_reason(p, "cuda", set()) is None for p in PRECISIONS)


def test_skip_reasons_name_the_flags_or_the_device():
    assert skip_reason(BFLOAT16, "cpu", AVX2) == (
        "bfloat16 is not native on this CPU (none of avx512_bf16, amx_bf16 in its flags)"
    )
    assert "deployed on cuda only" in skip_reason(FLOAT16, "cpu", AMX)
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        precision("fp8")


def test_the_plan_skips_a_variant_whose_precision_the_cpu_lacks():
    chosen = CrossProduct(("cpu",), ("eager", "ts-cpp"), ("plain", "bf16", "fp16"), frozenset(AVX512_VNNI))
    assert chosen.skipped_variants("cpu") == {
        "bf16": "variant bf16 skipped on the CPU: bfloat16 is not native on this CPU (none of avx512_bf16, "
        "amx_bf16 in its flags) (emulated timings would mislead)"
    }
    assert chosen.runtime_variants("ts-cpp", "cpu") == ["plain"]
    with_amx = CrossProduct(("cpu",), ("ts-cpp",), ("plain", "bf16"), frozenset(AMX))
    assert with_amx.skipped_variants("cpu") == {} and with_amx.runtime_variants("ts-cpp", "cpu") == ["plain", "bf16"]


def test_efficiency_reads_a_deployments_precision_from_its_variant():
    assert (precision_of("plain"), precision_of("bf16"), precision_of("fp16")) == (FLOAT32, BFLOAT16, FLOAT16)
    assert precision_of("plain", quantized=True) == INT8
