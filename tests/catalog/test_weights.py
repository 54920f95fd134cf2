"""Weights: real downloads against a local HTTP server, the hub cache, random and directory modes."""

import dataclasses
import hashlib
import http.server
import socket
import threading
import time

import pytest
import torch
from conftest import REPO_ROOT

from tvdeploy.catalog.models import WeightsFileError, build_model, load_state_dict_file, random_state_dict
from tvdeploy.catalog.sheet import read_sheet
from tvdeploy.catalog.weights import DownloadError, IntegrityError, download, hub_cache_file, resolve, sha256_of

MODEL = "squeezenet1_1"  # the smallest model: 5 MB of weights


class ArbitraryObject:
    """Stands for pickled code in a weights file; weights_only loading must refuse it."""


@pytest.fixture(scope="module")
def weights_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("w") / "sq.pth"
    torch.save(random_state_dict(MODEL, seed=7), path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def info(weights_bytes):
    real = read_sheet(REPO_ROOT / "config" / "models.tsv")[MODEL]
    # The served file stands in for the published one: its own hash prefix is expected.
    return dataclasses.replace(real, sha256_prefix=hashlib.sha256(weights_bytes).hexdigest()[:10])


@pytest.fixture(scope="module")
def server(weights_bytes):
    """Serves /good, /truncated (short body, full Content-Length), /tampered, /slow; 404 otherwise."""
    tampered = bytearray(weights_bytes)
    tampered[len(tampered) // 2] ^= 0xFF

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/slow":
                time.sleep(3)
            body = {
                "/good": weights_bytes,
                "/truncated": weights_bytes,
                "/tampered": bytes(tampered),
                "/slow": weights_bytes,
            }.get(self.path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.path == "/truncated":
                self.wfile.write(body[: len(body) // 3])
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(body)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def closed_port_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens here: connection refused, like a machine without network
    return f"http://127.0.0.1:{port}/resnet.pth"


@pytest.fixture(autouse=True)
def empty_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "_hub_dir", str(tmp_path / "hub"))


def test_download_good_file(server, info, weights_bytes, tmp_path):
    dest = tmp_path / "w.pth"
    digest = download(f"{server}/good", dest, info.sha256_prefix, timeout_s=5)
    assert dest.read_bytes() == weights_bytes
    assert digest == hashlib.sha256(weights_bytes).hexdigest()
    assert list(tmp_path.iterdir()) == [dest]  # no temp file left behind


@pytest.mark.parametrize("path, message", [("/truncated", "ended early|truncated"), ("/tampered", "tampered")])
def test_download_bad_file_leaves_nothing(server, info, tmp_path, path, message):
    dest = tmp_path / "w.pth"
    with pytest.raises(IntegrityError, match=message):
        download(f"{server}{path}", dest, info.sha256_prefix, timeout_s=5)
    assert list(tmp_path.iterdir()) == []


def test_download_http_error_and_timeout(server, info, tmp_path):
    with pytest.raises(DownloadError, match="404"):
        download(f"{server}/missing", tmp_path / "w.pth", info.sha256_prefix, timeout_s=5)
    start = time.monotonic()
    with pytest.raises(DownloadError) as err:
        download(f"{server}/slow", tmp_path / "w.pth", info.sha256_prefix, timeout_s=0.5)
    assert not isinstance(err.value, IntegrityError)
    assert time.monotonic() - start < 2.5  # bounded by the timeout, not by the server
    assert list(tmp_path.iterdir()) == []


def test_resolve_pretrained_via_url_override(server, info, tmp_path, weights_bytes):
    dest = tmp_path / "w.pth"
    provenance = resolve(info, "pretrained", dest, seed=0, url=f"{server}/good", timeout_s=5)
    assert provenance["source"] == "pretrained" and provenance["origin"].endswith("/good")
    assert dest.read_bytes() == weights_bytes
    build_model(MODEL, dest)  # loads with weights_only=True and fits the architecture


def test_resolve_pretrained_offline_names_alternatives(info, tmp_path, closed_port_url):
    with pytest.raises(DownloadError) as err:
        resolve(info, "pretrained", tmp_path / "w.pth", seed=0, url=closed_port_url, timeout_s=2)
    for word in ("weights: auto", "weights: random", "weights: <directory>"):
        assert word in str(err.value)
    assert not (tmp_path / "w.pth").exists()


def test_resolve_auto_offline_falls_back_to_seeded_random(info, tmp_path, closed_port_url):
    a, b = tmp_path / "a.pth", tmp_path / "b.pth"
    provenance = resolve(info, "auto", a, seed=3, url=closed_port_url, timeout_s=2)
    resolve(info, "auto", b, seed=3, url=closed_port_url, timeout_s=2)
    assert provenance["source"] == "random" and provenance["seed"] == 3 and "fallback_reason" in provenance
    sa, sb = load_state_dict_file(a), load_state_dict_file(b)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_resolve_auto_never_hides_a_tampered_download(server, info, tmp_path):
    with pytest.raises(IntegrityError):
        resolve(info, "auto", tmp_path / "w.pth", seed=0, url=f"{server}/tampered", timeout_s=5)


def test_resolve_uses_verified_hub_cache(info, tmp_path, weights_bytes, closed_port_url):
    cached = hub_cache_file(info.url)
    cached.parent.mkdir(parents=True)
    cached.write_bytes(weights_bytes)
    provenance = resolve(info, "pretrained", tmp_path / "w.pth", seed=0, url=closed_port_url, timeout_s=2)
    assert provenance["source"] == "pretrained" and provenance["origin"] == str(cached)
    cached.write_bytes(weights_bytes[:-10])
    with pytest.raises(IntegrityError):
        resolve(info, "pretrained", tmp_path / "x.pth", seed=0, timeout_s=2)


def test_resolve_random_and_directory(info, tmp_path):
    rnd = tmp_path / "rnd.pth"
    assert resolve(info, "random", rnd, seed=1)["source"] == "random"
    user_dir = tmp_path / "mine"
    user_dir.mkdir()
    (user_dir / f"{MODEL}.pth").write_bytes(rnd.read_bytes())
    provenance = resolve(info, str(user_dir), tmp_path / "w.pth", seed=0)
    assert provenance["source"] == "file" and provenance["sha256"] == sha256_of(rnd)
    with pytest.raises(FileNotFoundError, match="has no resnet18.pth"):
        resolve(dataclasses.replace(info, model="resnet18"), str(user_dir), tmp_path / "r.pth", seed=0)
    with pytest.raises(ValueError, match="neither auto, pretrained, random nor an existing directory"):
        resolve(info, "pretrainedd", tmp_path / "z.pth", seed=0)


def test_unsafe_or_mismatched_state_dicts_are_refused(tmp_path):
    pickled = tmp_path / "evil.pth"
    torch.save({"weight": torch.zeros(1), "payload": ArbitraryObject()}, pickled)
    with pytest.raises(WeightsFileError, match="cannot load"):
        load_state_dict_file(pickled)
    wrong = tmp_path / "wrong.pth"
    torch.save(random_state_dict("mobilenet_v3_small", seed=0), wrong)
    with pytest.raises(WeightsFileError, match=f"does not fit {MODEL}"):
        build_model(MODEL, wrong)
