"""Which deployments are held against which: the parity pairs (each runtime against the one it
must reproduce, with the tolerance the pair is held to) and the comparison pairs (the latency
ratios a comparison reports)."""

from __future__ import annotations

from dataclasses import dataclass

from tvdeploy.plan.deployments import CrossProduct
from tvdeploy.registry import EAGER, PEER_REFERENCE, PLAIN, RUNTIMES, VARIANTS, Deployment, cross_language_pairs

# The kinds of comparison pair (the records' ``kind``, read by tvdeploy.results).
VS_EAGER = "vs_eager"
CROSS_LANGUAGE = "cross_language"
VS_PLAIN = "vs_plain"
VS_PEER = "vs_peer"


def parity_rtol(parity: dict, device: str, variant: str, reference_variant: str = PLAIN) -> float:
    """The relative tolerance of a variant against ``reference_variant`` (config ``parity``).

    A variant compared against another variant may carry its own tolerance (half precision
    against float32). Float32 on CUDA gets ``cuda_rtol``: cuDNN runs float32 convolutions in
    TF32 by default on Ampere and later GPUs, and eager, frozen (conv+bn folded) and
    channels_last modules get different algorithms, ~3e-4 of the logits' scale apart (H100)."""
    key = VARIANTS[variant].cross_variant_rtol_key
    if variant != reference_variant and key:
        return parity[key]
    return parity["cuda_rtol"] if device == "cuda" else parity["rtol"]


def configured_reference(runtime_name: str, runtimes) -> str | None:
    """The nearest runtime up the registry's reference chain that is among ``runtimes``."""
    ref = RUNTIMES[runtime_name].reference
    while ref is not None and ref not in runtimes:
        ref = RUNTIMES[ref].reference
    return ref


def reference_name(reference: Deployment) -> str:
    """How a parity record names its reference: the runtime alone where it runs its artifact as
    built (eager), else the deployment's key."""
    if RUNTIMES[reference.runtime].names_variant(reference.variant):
        return reference.key
    return reference.runtime


@dataclass(frozen=True)
class ParityPair:
    candidate: Deployment
    reference: Deployment
    rtol: float


def parity_pairs(cross: CrossProduct, parity: dict, device: str) -> list[ParityPair]:
    """Each runtime against the one it should reproduce (registry ``reference``), on the same
    variant where the reference has it, else against the reference's plain model."""
    pairs = []
    for cand in cross.runtimes:
        ref = configured_reference(cand, cross.runtimes)
        if ref is None:
            continue
        ref_variants = cross.runtime_variants(ref, device)
        for variant in cross.runtime_variants(cand, device):
            ref_variant = variant if variant in ref_variants else PLAIN
            rtol = parity_rtol(parity, device, variant, ref_variant)
            pairs.append(ParityPair(Deployment(cand, variant), Deployment(ref, ref_variant), rtol))
    return pairs


def comparison_pairs(cross: CrossProduct, device: str) -> list[dict]:
    """The ratios that matter: every deployment vs eager; the same artifact in two languages
    (ts-cpp vs ts-python on the same .pt); each variant vs the plain export of its runtime;
    every deployment vs the peer runtime (ONNX Runtime) where the run has it."""
    deployments = cross.on(device)
    present = set(deployments)
    pairs = []

    def add(kind: str, candidate: Deployment, reference: Deployment) -> None:
        if candidate in present and reference in present and candidate != reference:
            pairs.append(
                {
                    "kind": kind,
                    "candidate": [candidate.runtime, candidate.variant],
                    "reference": [reference.runtime, reference.variant],
                }
            )

    eager, peer = Deployment(EAGER, PLAIN), Deployment(PEER_REFERENCE, PLAIN)
    for d in deployments:
        add(VS_EAGER, d, eager)
    for cand, ref in cross_language_pairs():
        for variant in cross.runtime_variants(cand, device):
            add(CROSS_LANGUAGE, Deployment(cand, variant), Deployment(ref, variant))
    for d in deployments:
        if d.variant != PLAIN:
            add(VS_PLAIN, d, Deployment(d.runtime, PLAIN))
    for d in deployments:
        if d.runtime != EAGER:
            add(VS_PEER, d, peer)
    return pairs
