"""Why a deployment failed: one set of failure classes for builds, inference and benchmarks, used
by the build records, the result tables, the deployability matrix and the summary. Torch-free."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass

# Classes named by what went wrong, matched in this order against an error's text ...
TIMEOUT = "timeout"
OUT_OF_MEMORY = "out of memory"
NO_DEVICE = "no device"
UNSUPPORTED = "unsupported operator"
CRASHED = "crashed"
# ... and, when none matches, the class of the phase that failed.
EXPORT_ERROR = "export error"
CONVERSION_ERROR = "conversion error"
COMPILE_ERROR = "compile error"
QUANTIZATION_ERROR = "quantization error"
LOAD_ERROR = "load error"
RUN_ERROR = "run error"
OTHER = "other"

_BY_TEXT = (
    (TIMEOUT, re.compile(r"timed out|timeout|took longer than", re.I)),
    (
        OUT_OF_MEMORY,
        re.compile(r"out of memory|OutOfMemory|(can.t|cannot) allocate memory|bad_alloc|MemoryError", re.I),
    ),
    (NO_DEVICE, re.compile(r"no CUDA device|compute capability|device .* requested|runs on the CPU only", re.I)),
    (
        UNSUPPORTED,
        re.compile(
            r"not supported|unsupported|cannot export|NotImplemented|not implemented|no conversion rule"
            r"|no decomposition|OpConversionFailure|could not find a translation",
            re.I,
        ),
    ),
    (CRASHED, re.compile(r"exited unexpectedly|exit status -\d+|signal|crash|died|closed its output", re.I)),
)


def classify_text(error: str, phase_class: str = OTHER) -> str:
    """The failure class of an error known by its text; ``phase_class`` when no pattern matches."""
    for name, pattern in _BY_TEXT:
        if pattern.search(error):
            return name
    return phase_class


def classify(error: BaseException, phase_class: str) -> str:
    """The failure class of an exception raised while doing what ``phase_class`` names."""
    if isinstance(error, TimeoutError):
        return TIMEOUT
    if isinstance(error, MemoryError):
        return OUT_OF_MEMORY
    known = getattr(error, "error_class", None)
    if isinstance(known, str):
        return known
    return classify_text(f"{type(error).__name__}: {error}", phase_class)


# Terminal colour codes some exporters put into their messages.
_ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def error_text(error: BaseException, limit: int = 2000) -> str:
    """One error's type and message, shortened for tables (the log keeps the traceback)."""
    text = _ANSI_ESCAPE.sub("", f"{type(error).__name__}: {error}").strip()
    return text if len(text) <= limit else text[: limit - 15] + " … (truncated)"


@dataclass(frozen=True)
class UpstreamIssue:
    """A failure reported upstream: a failed result it matches names the issues (``upstream``), so
    a reader knows it is not this workflow's to fix. It matches by its error's text (``pattern``),
    or, where the error says nothing (a time limit), by the artifact and model that failed; each
    of those left None matches anything."""

    refs: tuple[str, ...]
    what: str
    pattern: re.Pattern | None = None
    artifact: str | None = None
    models: tuple[str, ...] | None = None

    def matches(self, error: str, artifact: str | None, model: str | None) -> bool:
        return (
            (self.pattern is None or self.pattern.search(error) is not None)
            and (self.artifact is None or self.artifact == artifact)
            and (self.models is None or model in self.models)
        )


UPSTREAM_ISSUES = (
    UpstreamIssue(
        ("pytorch#155550", "vision#8116"),
        "torch.export of torchvision's RAFT cannot keep the batch dynamic (its sizes specialise the "
        "batch to the example's; strict export fails on the corr_pyramid attribute it assigns): "
        "no dynamo ONNX and no dynamic-batch AOTInductor package",
        pattern=re.compile(
            r"corr_pyramid|L\['image1'\]\.size\(\)\[0\]\) // L\['image1'\]\.size\(\)\[0\]\)"
            r"|fixed input 'image1' \(batch = ",
        ),
    ),
    UpstreamIssue(
        ("vision#9306", "vision#9462", "pytorch#118884"),
        "torch.export of torchvision's detectors stops at a data-dependent guard (the number of boxes "
        "left after a score or size filter, in batched_nms or the detection heads): no dynamo ONNX "
        "export, and no torch.export program for AOTInductor",
        pattern=re.compile(r"data-dependent expression[\s\S]*?Caused by: \(torchvision/(?:ops|models/detection)/"),
    ),
    UpstreamIssue(
        ("pytorch#137111",),
        "torch.export cannot fake the packed weights of an eager-quantized model (its quantized "
        "modules' TorchBind PackedParams objects have no __obj_flatten__): no dynamo ONNX and no "
        "AOTInductor package of torchvision's quantized classifiers; TorchScript runs them",
        pattern=re.compile(r"quantized\.\w+PackedParamsBase \(.*?\) does not have a field with name '__obj_flatten__'"),
    ),
    UpstreamIssue(
        ("pytorch#90046", "vision#7003"),
        "mvit_v2's relative-position term (_add_rel_pos) blows up the ONNX graph: the TorchScript "
        "exporter hangs or runs out of memory; torch 2.14's dynamo exporter ran past a 6-minute "
        "limit on 2 cores",
        artifact="onnx",
        models=("mvit_v2_s",),
    ),
)


def upstream_issues(error: str, artifact: str | None = None, model: str | None = None) -> list[str]:
    """The upstream issues (``owner#number``) a failure is known to be: its error's text, and the
    artifact and model whose build or run failed where known."""
    return [ref for issue in UPSTREAM_ISSUES if issue.matches(error, artifact, model) for ref in issue.refs]


def failure_fields(
    error: BaseException, phase_class: str, artifact: str | None = None, model: str | None = None
) -> dict:
    """The ``error`` and ``error_class`` fields of a result that records a failure, and
    ``upstream`` where it is a known upstream issue (UPSTREAM_ISSUES), which the error then names
    too, so every table that shows it says so."""
    text = error_text(error)
    # Matched on the whole message: SSD's data-dependent guard is an expression of 90 terms that
    # pushes its "Caused by: (torchvision/ops/boxes.py ... batched_nms)" past the table's limit.
    known = upstream_issues(error_text(error, limit=sys.maxsize), artifact, model)
    if not known:
        return {"error": text, "error_class": classify(error, phase_class)}
    # An error passed on (a build's, read back by a runtime that cannot load its artifact) names them once.
    suffix = f" [known upstream: {', '.join(known)}]"
    return {
        "error": text if text.endswith(suffix) else text + suffix,
        "error_class": classify(error, phase_class),
        "upstream": known,
    }


def error_line(error: BaseException, raised_last: bool = False) -> str:
    """An error's type and the line of its message that says what went wrong: the first, or the
    last where the message ends with the raised error after a traceback (the TorchScript
    interpreter's errors)."""
    lines = [line.strip() for line in _ANSI_ESCAPE.sub("", str(error)).splitlines() if line.strip()] or [""]
    return f"{type(error).__name__}: {lines[-1] if raised_last else lines[0]}"
