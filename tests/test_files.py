"""Atomic outputs: a reader never sees a half-written file, and a failed write leaves nothing."""

import os
import stat

import pytest

from tvdeploy.files import atomic_directory, atomic_path, read_json, write_json_atomic, write_text_atomic


def test_write_json_atomic_creates_folders_and_round_trips(tmp_path):
    dest = tmp_path / "a" / "b" / "out.json"
    write_json_atomic(dest, {"x": [1, 2.5], "y": "é"})
    assert read_json(dest) == {"x": [1, 2.5], "y": "é"}
    assert [p.name for p in dest.parent.iterdir()] == ["out.json"]


def test_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    dest = tmp_path / "out.txt"
    write_text_atomic(dest, "old")
    with pytest.raises(RuntimeError, match="boom"), atomic_path(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("boom")
    assert dest.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_unserialisable_json_writes_nothing(tmp_path):
    dest = tmp_path / "out.json"
    with pytest.raises(TypeError):
        write_json_atomic(dest, {"bad": object()})
    assert not dest.exists() and list(tmp_path.iterdir()) == []


def test_atomic_files_get_the_users_default_mode_not_mkstemps_private_one(tmp_path):
    previous = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "table.csv", "a,b\n")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "table.csv").stat().st_mode) == 0o644


def test_atomic_directory_replaces_or_leaves_nothing(tmp_path):
    dest = tmp_path / "artifact"
    dest.mkdir()
    (dest / "old.bin").write_text("old")
    with pytest.raises(RuntimeError), atomic_directory(dest) as staging:
        (staging / "half.bin").write_text("half")
        raise RuntimeError("builder crashed")
    # The old folder is untouched and no staging folder is left beside it.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["artifact"] and (dest / "old.bin").exists()
    previous = os.umask(0o022)
    try:
        with atomic_directory(dest) as staging:
            (staging / "new.bin").write_text("new")
    finally:
        os.umask(previous)
    assert sorted(p.name for p in dest.iterdir()) == ["new.bin"]
    # The mode any new folder of this user gets, not mkdtemp's private 0700.
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
