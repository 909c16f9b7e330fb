"""Files written through edgepose.config's atomic writer get the permissions a plain ``open()`` gives them.

``tempfile.mkstemp`` makes 0600 files; renamed into place, configs, CSV logs, result JSON and ONNX models were
private while the plots beside them were 0644 (issue 15 item 7).
"""

from __future__ import annotations

import os
import stat

import pytest

from edgepose.config import atomic_write_text, new_file_mode, save_yaml, temp_file_beside


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    try:
        yield
    finally:
        os.umask(old)


def test_atomic_write_gives_the_mode_open_gives(tmp_path):
    with open(tmp_path / "plain.txt", "w") as fh:
        fh.write("x")
    atomic_write_text(tmp_path / "atomic.txt", "x")
    save_yaml({"a": 1}, tmp_path / "config.yaml")
    expected = _mode(tmp_path / "plain.txt")
    assert expected == new_file_mode()
    assert _mode(tmp_path / "atomic.txt") == expected
    assert _mode(tmp_path / "config.yaml") == expected
    assert expected & 0o044, "under the usual umask 022 others can read what edgepose writes"


def test_the_mode_follows_the_umask(tmp_path, umask_027, monkeypatch):
    import edgepose.config as config
    import edgepose.io

    monkeypatch.setattr(edgepose.io, "_UMASK", None)  # read the umask afresh (the writer lives in edgepose.io)
    assert config.current_umask() == 0o027
    atomic_write_text(tmp_path / "a.csv", "x\n")
    assert _mode(tmp_path / "a.csv") == 0o640
    monkeypatch.setattr(edgepose.io, "_UMASK", None)


def test_replacing_a_file_keeps_the_content_atomic(tmp_path):
    target = tmp_path / "metrics.json"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"], "no temporary file left behind"


def test_temp_file_beside_is_in_the_target_folder_with_open_mode(tmp_path):
    fd, name = temp_file_beside(tmp_path / "model.onnx", suffix=".tmp")
    os.close(fd)
    assert os.path.dirname(name) == str(tmp_path) and name.endswith(".tmp")
    assert _mode(name) == new_file_mode()
