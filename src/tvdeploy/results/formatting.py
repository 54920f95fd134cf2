"""How every table, page and figure writes a run's heading and a paired estimate with its
interval: one form for all of them."""

from __future__ import annotations

import numpy as np


def run_title(run: str, device: str, batch: int | None = None) -> str:
    """How headings name a run's device (and batch size): ``vm · cpu, batch 1``."""
    return f"{run} · {device}" + (f", batch {batch}" if batch is not None else "")


def interval_text(ratio: float, low: float, high: float) -> str:
    """A paired estimate with its interval, ``1.25 [1.20, 1.31]``; ``(reference)`` where it has none."""
    if np.isnan(low) or np.isnan(high):
        return f"{ratio:.2f} (reference)"
    return f"{ratio:.2f} [{low:.2f}, {high:.2f}]"
