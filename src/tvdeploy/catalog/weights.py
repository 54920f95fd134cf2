"""Getting a model's weights: download with verification, the torch hub cache, a user
directory, or seeded random weights. Every outcome is recorded as provenance."""

from __future__ import annotations

import hashlib
import logging
import shutil
from pathlib import Path

import requests

from tvdeploy.catalog.sheet import ModelInfo
from tvdeploy.files import atomic_path

LOG = logging.getLogger("tvdeploy.catalog.weights")
CHUNK_BYTES = 1 << 20
PROGRESS_STEP = 0.1  # log every 10 % of a download
WEIGHT_MODES = ("auto", "pretrained", "random")


class DownloadError(RuntimeError):
    """The file could not be fetched (network, HTTP status)."""


class IntegrityError(DownloadError):
    """The file was fetched but is truncated or its checksum does not match."""


def sha256_of(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _check_prefix(digest: str, expected_prefix: str, what: str) -> None:
    if expected_prefix and not digest.startswith(expected_prefix):
        raise IntegrityError(
            f"{what}: sha256 {digest} does not start with the expected prefix {expected_prefix}; "
            "the file is corrupt or was tampered with"
        )


def download(url: str, dest: str | Path, sha256_prefix: str, timeout_s: float) -> str:
    """Stream ``url`` to ``dest`` atomically; verify length and sha256 prefix.

    Returns the file's full sha256. ``dest`` is only created when every check passed.
    """
    LOG.info("downloading %s (timeout %.0f s)", url, timeout_s)
    with atomic_path(dest, suffix=".partial") as tmp:
        digest = hashlib.sha256()
        received = 0
        try:
            with requests.get(url, stream=True, timeout=(timeout_s, timeout_s)) as response:
                response.raise_for_status()
                total = int(response.headers.get("Content-Length") or 0) or None
                next_report = PROGRESS_STEP
                with open(tmp, "wb") as handle:
                    for chunk in response.iter_content(CHUNK_BYTES):
                        handle.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        if total and received / total >= next_report:
                            LOG.info("  %3.0f %%  %.1f / %.1f MB", 100 * received / total, received / 1e6, total / 1e6)
                            next_report += PROGRESS_STEP
        except requests.exceptions.ChunkedEncodingError as err:
            raise IntegrityError(f"{url}: transfer ended early after {received} bytes ({err})") from err
        except requests.RequestException as err:
            raise DownloadError(f"{url}: {err}") from err
        if total is not None and received != total:
            raise IntegrityError(f"{url}: truncated, received {received} of {total} bytes")
        hexdigest = digest.hexdigest()
        _check_prefix(hexdigest, sha256_prefix, url)
    LOG.info("downloaded %.1f MB, sha256 %s", received / 1e6, hexdigest)
    return hexdigest


def hub_cache_file(url: str) -> Path:
    """Where torch.hub / torchvision would have cached this URL."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def _copy_verified(src: Path, dest: Path, sha256_prefix: str) -> str:
    digest = sha256_of(src)
    _check_prefix(digest, sha256_prefix, str(src))
    with atomic_path(dest, suffix=".partial") as tmp:
        shutil.copyfile(src, tmp)
    return digest


def fetch_pretrained(info: ModelInfo, dest: Path, url: str | None, timeout_s: float) -> dict:
    """Pretrained weights from the hub cache when present, else downloaded."""
    url = url or info.url
    cached = hub_cache_file(info.url)
    if cached.is_file():
        LOG.info("using cached %s", cached)
        digest = _copy_verified(cached, dest, info.sha256_prefix)
        origin = str(cached)
    else:
        digest = download(url, dest, info.sha256_prefix, timeout_s)
        origin = url
    return {"source": "pretrained", "weights": info.weights, "origin": origin, "sha256": digest}


def write_random(model: str, dest: Path, seed: int) -> dict:
    import torch

    from tvdeploy.catalog.models import random_state_dict, random_weights_build_kwargs

    with atomic_path(dest, suffix=".partial") as tmp:
        torch.save(random_state_dict(model, seed), tmp)
    provenance = {"source": "random", "weights": None, "seed": seed}
    # What every build of these weights applies besides (a detector's score threshold of 0), on
    # record in every artifact's metadata through this provenance.
    build_kwargs = random_weights_build_kwargs(model, provenance)
    if build_kwargs:
        provenance["build_kwargs"] = build_kwargs
    return provenance


def resolve(
    info: ModelInfo, mode: str, dest: str | Path, seed: int, url: str | None = None, timeout_s: float = 30.0
) -> dict:
    """Put the weights ``mode`` asks for at ``dest`` and return their provenance.

    ``mode`` is ``auto``, ``pretrained``, ``random`` or a directory holding ``{model}.pth``.
    ``auto`` falls back to random weights only when the file cannot be fetched at all; a
    truncated or mismatching download is an error in every mode, never silently replaced.
    """
    dest = Path(dest)
    if mode == "random":
        return write_random(info.model, dest, seed)
    if mode in ("pretrained", "auto"):
        try:
            return fetch_pretrained(info, dest, url, timeout_s)
        except IntegrityError:
            raise
        except DownloadError as err:
            if mode == "pretrained":
                raise DownloadError(
                    f"cannot download pretrained weights for {info.model}: {err}. "
                    "Without network access set `weights: auto` (falls back to seeded random weights), "
                    "`weights: random`, or `weights: <directory>` holding <model>.pth files "
                    f"(or place {info.url.rsplit('/', 1)[-1]} in {hub_cache_file(info.url).parent})."
                ) from err
            LOG.warning("pretrained weights unavailable (%s); using seeded random weights (seed %d)", err, seed)
            provenance = write_random(info.model, dest, seed)
            provenance["fallback_reason"] = str(err)
            return provenance
    directory = Path(mode)
    if not directory.is_dir():
        raise ValueError(f"weights: '{mode}' is neither auto, pretrained, random nor an existing directory")
    src = directory / f"{info.model}.pth"
    if not src.is_file():
        raise FileNotFoundError(f"weights directory {directory} has no {info.model}.pth")
    with atomic_path(dest, suffix=".partial") as tmp:
        shutil.copyfile(src, tmp)
    return {"source": "file", "weights": None, "origin": str(src.resolve()), "sha256": sha256_of(dest)}
