"""The optical-flow pair folder convention, torch-free (the plan lists a run's pairs while the
Snakefile parses; tvdeploy.inputs.pairs reads and preprocesses them).

A pair named ``<name>`` is the two files ``<name>_1.<ext>`` (first image) and ``<name>_2.<ext>``
(second image); the flow goes from the first to the second. Files whose stem ends in neither
``_1`` nor ``_2`` (a README) are not pair members; a member without its partner is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

PAIR_MEMBER_SUFFIXES = ("_1", "_2")


class PairReadError(ValueError):
    """An image pair cannot be an optical-flow input (the message names the files)."""


@dataclass(frozen=True)
class PairSource:
    name: str
    first: Path
    second: Path


def list_pair_folder(folder: str | Path) -> dict[str, PairSource]:
    """The pairs of ``folder`` by name, sorted, following the ``<name>_1``/``<name>_2`` convention."""
    folder = Path(folder)
    if not folder.is_dir():
        raise PairReadError(f"pair folder {folder} is not a directory")
    members: dict[tuple[str, str], Path] = {}
    for path in sorted(folder.iterdir()):
        name, sep, member = path.stem.rpartition("_")
        if path.name.startswith(".") or not sep or f"_{member}" not in PAIR_MEMBER_SUFFIXES or not name:
            continue
        if (name, member) in members:
            raise PairReadError(
                f"pair folder {folder}: {members[name, member].name} and {path.name} are both member {name}_{member}"
            )
        members[name, member] = path
    pairs = {}
    for name in sorted({name for name, _ in members}):
        if (name, "1") not in members or (name, "2") not in members:
            present = members.get((name, "1")) or members[name, "2"]
            missing = f"{name}_2" if (name, "1") in members else f"{name}_1"
            raise PairReadError(f"pair folder {folder}: {present.name} has no partner {missing}.<ext>")
        pairs[name] = PairSource(name, members[name, "1"], members[name, "2"])
    if not pairs:
        raise PairReadError(f"pair folder {folder} holds no pair (<name>_1.<ext> and <name>_2.<ext>)")
    return pairs
