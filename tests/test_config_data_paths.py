"""Every config finds its data through ``$EDGEPOSE_DATA``, with the fallback the tests use (``../shared/data``
beside the repository), written ``${EDGEPOSE_DATA:-<relative path to shared/data>}/...``."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgepose.config import expand_path
from edgepose.engine.config import load_experiment, resolve_path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted([*REPO.glob("configs/*.yaml"), *REPO.glob("edgepose/configs/*.yaml")])
DATA_KEYS = ("train_ann", "train_images", "val_ann", "val_images", "train_dir", "val_dir")
DEFAULT_DATA = REPO.parent / "shared" / "data"  # tests/conftest.py's fallback


def _data_values(path: Path) -> dict[str, str]:
    data = (yaml.safe_load(path.read_text()) or {}).get("data") or {}
    return {k: str(v) for k, v in data.items() if k in DATA_KEYS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.relative_to(REPO).as_posix())
def test_shared_data_paths_go_through_edgepose_data(path):
    for key, value in _data_values(path).items():
        if "shared/data" in value or "EDGEPOSE_DATA" in value:
            assert value.startswith("${EDGEPOSE_DATA:-"), f"{key}: {value}"
            default = value[len("${EDGEPOSE_DATA:-") :].split("}", 1)[0]
            # the default is the repository's sibling shared/data, seen from this file's folder
            assert (path.parent / default).resolve() == DEFAULT_DATA.resolve(), f"{key}: {default}"


def test_the_lspet_configs_read_edgepose_data_and_fall_back_to_shared_data(monkeypatch, tmp_path):
    config = REPO / "configs" / "flpn_small_lspet_160x160.yaml"
    monkeypatch.delenv("EDGEPOSE_DATA", raising=False)
    cfg = load_experiment(config)
    assert resolve_path(cfg, cfg.data["train_ann"]).resolve() == (DEFAULT_DATA / "lspet" / "joints.mat").resolve()
    monkeypatch.setenv("EDGEPOSE_DATA", str(tmp_path / "mydata"))
    cfg = load_experiment(config)
    assert resolve_path(cfg, cfg.data["val_images"]) == tmp_path / "mydata" / "lspet" / "images"
    # a relative EDGEPOSE_DATA is where the user set it (the current folder), not the config's folder
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("EDGEPOSE_DATA", "rel")
    assert resolve_path(load_experiment(config), "${EDGEPOSE_DATA:-x}/a") == tmp_path / "rel" / "a"


def test_expand_path_defaults(monkeypatch):
    monkeypatch.delenv("EDGEPOSE_DATA", raising=False)
    monkeypatch.setenv("HOME", "/home/u")
    assert expand_path("${EDGEPOSE_DATA:-../../shared/data}/lspet") == "../../shared/data/lspet"
    assert expand_path("~/x/${EDGEPOSE_DATA:-d}") == "/home/u/x/d"
    monkeypatch.setenv("EDGEPOSE_DATA", "/data")
    assert expand_path("${EDGEPOSE_DATA:-../../shared/data}/lspet") == "/data/lspet"
    assert expand_path("$EDGEPOSE_DATA/coco") == "/data/coco"
    monkeypatch.setenv("EDGEPOSE_DATA", "")  # set but empty: the default, as in the shell
    assert expand_path("${EDGEPOSE_DATA:-fallback}/x") == "fallback/x"
