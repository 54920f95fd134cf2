"""Memory admission of a comparison: which deployments' workers may be resident at once.

A comparison holds one long-lived worker per deployment, each with its own copy of the model.
For a big model all of them together do not fit the machine (vit_h_14: seven workers of 5-6 GB
on 24 GB), and an OOM kill or a thrashing page cache is the result. So the deployments are
measured in groups whose resident sizes add up to at most the budget. A ratio is only honest
between two deployments measured in the same interleaved rounds, so every pair the comparison
reports is measured inside one group, both members together. A pair that does not fit even
alone is not started at all: it is recorded as failed (out of memory) with the size it needed.

Sizes are the workers' measured peak resident memory once one was loaded, else the plan's
estimate; the coordinator plans again whenever a measured size replaces an estimate.

Torch-free.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from tvdeploy.registry.failures import OUT_OF_MEMORY

# Share of the memory the machine has available that a comparison may fill: the coordinator, the
# page cache of the artifacts and the kernel need the rest.
AVAILABLE_SHARE = 0.9
MB = 1_000_000


@dataclass(frozen=True)
class Budget:
    """How much resident memory the comparison's workers may hold at once, and why that much."""

    mb: float
    job_mem_mb: float | None
    available_mb: float

    @classmethod
    def of(cls, job_mem_mb: float | None, available_bytes: float) -> Budget:
        """The job's ``mem_mb`` (what its scheduler granted), never more than the machine's
        available memory (less a margin) at the start."""
        available_mb = AVAILABLE_SHARE * available_bytes / MB
        mb = available_mb if not job_mem_mb else min(float(job_mem_mb), available_mb)
        return cls(mb=mb, job_mem_mb=job_mem_mb, available_mb=available_mb)

    def as_dict(self) -> dict:
        limited_by = "job mem_mb" if self.job_mem_mb and self.job_mem_mb <= self.available_mb else "available memory"
        return {
            "budget_mb": round(self.mb),
            "job_mem_mb": self.job_mem_mb,
            "available_mb": round(self.available_mb),
            "limited_by": limited_by,
        }


@dataclass
class Admission:
    """The groups to measure, in order, and what could not be admitted."""

    groups: list[list[str]]
    # Per group, the pairs (candidate, reference) whose ratio comes from that group's rounds.
    group_pairs: list[list[tuple[str, str]]]
    # Pairs and deployments that do not fit the budget even alone: {"candidate", "reference" or
    # "deployment", "needs_mb", "budget_mb", "error", "error_class"}.
    refused_pairs: list[dict] = field(default_factory=list)
    refused_deployments: list[dict] = field(default_factory=list)


def out_of_memory(what: str, needs_mb: float, budget_mb: float) -> dict:
    return {
        "needs_mb": round(needs_mb),
        "budget_mb": round(budget_mb),
        "error": f"out of memory: {what} needs {needs_mb:.0f} MB resident at once, the comparison's budget is "
        f"{budget_mb:.0f} MB; not started",
        "error_class": OUT_OF_MEMORY,
    }


def plan_groups(
    deployments: Sequence[str],
    pairs: Sequence[tuple[str, str]],
    sizes_mb: Mapping[str, float],
    budget_mb: float,
    measured: Collection[str] = (),
) -> Admission:
    """Groups of deployments, each fitting ``budget_mb``, that together measure every pair that fits.

    Greedy: a group starts from the largest pair not yet measured (the hardest to place) and
    takes in, one at a time, the deployment that completes the most unmeasured pairs with the
    group's members (ties: the smaller one), while it fits. When everything fits, that is one
    group of every deployment, as without admission. A deployment in no pair is still measured
    (in the first group with room), so every deployment that fits gets a latency; those in
    ``measured`` already have one and join a group only for a pair.
    """
    order = {d: i for i, d in enumerate(deployments)}
    unknown = [d for d in {x for p in pairs for x in p} if d not in order]
    if unknown:
        raise ValueError(f"pairs name deployments that are not compared: {sorted(unknown)}")
    missing = [d for d in deployments if d not in sizes_mb]
    if missing:
        raise ValueError(f"no size for {missing}")
    admission = Admission(groups=[], group_pairs=[])

    fitting = []
    for cand, ref in dict.fromkeys(pairs):
        needs = sizes_mb[cand] + sizes_mb[ref]
        if needs > budget_mb:
            admission.refused_pairs.append(
                {"candidate": cand, "reference": ref, **out_of_memory(f"{cand} with {ref}", needs, budget_mb)}
            )
        else:
            fitting.append((cand, ref))
    unmeasured = []
    for d in deployments:
        if d in measured:
            continue
        if sizes_mb[d] > budget_mb:
            admission.refused_deployments.append({"deployment": d, **out_of_memory(d, sizes_mb[d], budget_mb)})
        else:
            unmeasured.append(d)

    uncovered = list(fitting)
    while uncovered or unmeasured:
        if uncovered:
            seed = max(uncovered, key=lambda p: (sizes_mb[p[0]] + sizes_mb[p[1]], -order[p[0]]))
            group = {seed[0], seed[1]}
        else:
            group = {max(unmeasured, key=lambda d: (sizes_mb[d], -order[d]))}
        while True:
            used = sum(sizes_mb[d] for d in group)
            best, best_score = None, None
            for d in deployments:
                if d in group or d not in unmeasured and not _completes(d, group, uncovered):
                    continue
                if used + sizes_mb[d] > budget_mb:
                    continue
                gain = len(_completes(d, group, uncovered)) + (0.5 if d in unmeasured else 0.0)
                score = (gain, -sizes_mb[d], -order[d])
                if best_score is None or score > best_score:
                    best, best_score = d, score
            if best is None:
                break
            group.add(best)
        members = sorted(group, key=order.__getitem__)
        measured_here = [p for p in uncovered if p[0] in group and p[1] in group]
        admission.groups.append(members)
        admission.group_pairs.append(measured_here)
        uncovered = [p for p in uncovered if p not in measured_here]
        unmeasured = [d for d in unmeasured if d not in group]
    return admission


def _completes(d: str, group: set[str], uncovered: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The unmeasured pairs that ``d`` would complete with the members of ``group``."""
    return [p for p in uncovered if d in p and (p[1] if p[0] == d else p[0]) in group]
