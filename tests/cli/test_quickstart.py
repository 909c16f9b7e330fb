"""`edgepose quickstart`: its recipes (package YAML = repository configs), the choice of data, and tiny end-to-end
runs on synthetic people and on real LSPet images (report, picture, metrics)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import pytest

from edgepose.cli.main import main
from edgepose.engine import quickstart
from edgepose.engine.config import load_experiment
from edgepose.errors import DataError

REPO = Path(__file__).resolve().parents[2]
DATA_KEYS = ("train_ann", "train_images", "val_ann", "val_images")


@pytest.mark.parametrize("kind,name", [("synthetic", "quickstart"), ("lspet", "quickstart_lspet")])
def test_repository_configs_are_the_packaged_recipes(kind, name):
    """configs/quickstart*.yaml inherit the package's YAML and change nothing but where the data is."""
    packaged = quickstart.quickstart_dict(kind)
    repo = load_experiment(REPO / "configs" / f"{name}.yaml")
    assert repo.name == packaged["name"] == name
    assert repo.model.name == packaged["model"]["name"] and repo.model.overrides == packaged["model"]["overrides"]
    assert {k: v for k, v in repo.data.items() if k not in DATA_KEYS} == {
        k: v for k, v in packaged["data"].items() if k not in DATA_KEYS
    }
    assert repo.eval == packaged["eval"]
    for key, value in packaged["train"].items():
        assert getattr(repo.train, key) == value, key
    # the repository file points at real paths; the package's are filled in by the command
    assert all(repo.data[k] != packaged["data"][k] for k in DATA_KEYS)


def test_the_recipes_ship_as_package_data():
    """An installed (non-editable) edgepose must hold the YAMLs the command reads."""
    section = (REPO / "pyproject.toml").read_text().split("[tool.setuptools.package-data]", 1)[1]
    line = next(line for line in section.splitlines() if line.startswith("edgepose ="))
    globs = re.findall(r'"([^"]+)"', line)
    for path in quickstart.RECIPES.values():
        rel = path.relative_to(REPO / "edgepose").as_posix()
        assert any(Path(rel).match(g) for g in globs), f"{rel} is not package data"


def test_experiment_paths_resolve_under_out_or_at_the_lspet_folder(tmp_path):
    cfg = quickstart.quickstart_experiment(tmp_path / "qs", tiny=True)
    assert cfg.data["dataset"] == "coco" and cfg.config_dir == str((tmp_path / "qs").resolve())
    assert cfg.train.max_steps_per_epoch == 3
    root = tmp_path / "lspet"
    cfg = quickstart.quickstart_experiment(tmp_path / "qs", overrides=["train.epochs=2"], lspet_root=root)
    assert cfg.data["dataset"] == "lspet" and cfg.train.epochs == 2
    assert cfg.data["train_ann"] == cfg.data["val_ann"] == str(root.resolve() / "joints.mat")
    assert cfg.data["max_images"] == quickstart.quickstart_dict("lspet")["data"]["max_images"]
    assert quickstart.quickstart_experiment(tmp_path, tiny=True, lspet_root=root).data["max_images"] == 12
    assert quickstart._milestone("lspet", 12) == 10 and quickstart._milestone("synthetic", 4) == 3


def test_choose_data_prefers_lspet_and_says_why_it_falls_back(tmp_path, monkeypatch, lspet):
    monkeypatch.setenv("EDGEPOSE_DATA", str(lspet.parent))
    kind, root, why = quickstart.choose_data("auto", None)
    assert kind == "lspet" and root == lspet and "LSPet images found" in why
    assert quickstart.choose_data("synthetic", None)[:2] == ("synthetic", None)
    # no LSPet: synthetic, naming where it looked
    monkeypatch.setenv("EDGEPOSE_DATA", str(tmp_path))
    kind, root, why = quickstart.choose_data("auto", None)
    assert kind == "synthetic" and root is None and str(tmp_path / "lspet") in why
    with pytest.raises(DataError, match="LSPet not found"):
        quickstart.choose_data("lspet", None)
    # a partial LSPet folder without the scored validation images: synthetic in auto mode, an error when asked for
    partial = tmp_path / "lspet"
    (partial / "images").mkdir(parents=True)
    shutil.copy(lspet / "joints.mat", partial / "joints.mat")
    shutil.copy(lspet / "images" / "im00001.jpg", partial / "images" / "im00001.jpg")
    kind, _, why = quickstart.choose_data("auto", None)
    assert kind == "synthetic" and "not in this folder" in why
    with pytest.raises(DataError, match="not in this folder"):
        quickstart.choose_data("auto", str(partial))


def _check_common_outputs(out: Path) -> dict:
    for name in ("report.md", "metrics.json", "predictions.jpg", "train/best.pt", "train/last.pt",
                 "train/plots/losses.png", "train/plots/metrics.png"):  # fmt: skip
        assert (out / name).is_file(), name
    picture = cv2.imread(str(out / "predictions.jpg"))
    assert picture.shape[0] == quickstart.PREVIEW_HEIGHT and picture.shape[1] > 2 * quickstart.PREVIEW_HEIGHT
    report = (out / "report.md").read_text()
    assert "![predictions](predictions.jpg)" in report
    next_steps = report.split("## Next", 1)[1]
    for command in ("edgepose predict", "edgepose export", "edgepose pck", "--onnx"):
        assert command in next_steps, command
    summary = json.loads((out / "metrics.json").read_text())
    assert summary["steps"] == 3 and summary["seconds"]["cpu"] > 0 and summary["picture"] == "predictions.jpg"
    return summary


@pytest.mark.slow
def test_quickstart_tiny_on_synthetic_people(tmp_path, capsys):
    out = tmp_path / "qs"
    # a generous budget: the smoke run's three steps must not depend on how busy the machine is
    assert main(["quickstart", "--data", "synthetic", "--out", str(out), "--tiny", "--no-progress", "--minutes",
                 "120"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert captured.err.startswith("quickstart on SYNTHETIC people: --data synthetic")
    summary = _check_common_outputs(out)
    assert (out / "data/annotations/person_keypoints_val.json").is_file()
    assert summary["data"] == "synthetic" and isinstance(summary["AP"], float)
    # the AP the summary reports is the one the trainer's last evaluation wrote (not re-derived by the report)
    run = json.loads((out / "train" / "metrics.json").read_text())
    assert summary["AP"] == run["final"]["AP"] and f"**Synthetic-val AP {summary['AP']:.3f}**" in (
        out / "report.md").read_text()
    assert summary["model_overrides"]["blocks"] == [1, 1, 1, 1]
    assert "Synthetic-val AP" in (out / "report.md").read_text()
    assert captured.out.startswith("AP ")
    # The saved config continues the run in place.
    cfg = load_experiment(out / "train" / "config.yaml")
    assert Path(cfg.output_dir) == (out / "train").resolve()


@pytest.mark.slow
def test_quickstart_tiny_on_real_lspet_people(tmp_path, capsys, lspet):
    out = tmp_path / "qs"
    assert main(["quickstart", "--lspet-root", str(lspet), "--out", str(out), "--tiny", "--no-progress", "--minutes",
                 "120"]) == 0  # fmt: skip
    captured = capsys.readouterr()
    assert re.match(rf"quickstart on REAL people: \d+ LSPet images found in {re.escape(str(lspet))}", captured.err)
    summary = _check_common_outputs(out)
    assert not (out / "data").exists(), "no synthetic data drawn"
    assert summary["data"] == "lspet"
    run = json.loads((out / "train" / "metrics.json").read_text())
    assert summary["PCK@0.2"] == run["final"]["PCK@0.2"]
    # PCK@0.2 counts the joints within 0.2 torso of the truth: never below PCK@0.1 (a looser radius)
    assert summary["metrics"]["PCK@0.2"] >= summary["metrics"]["PCK@0.1"]
    assert summary["metrics"]["people"] + summary["metrics"]["skipped"] == 12  # tiny: data.max_images caps both
    assert summary["dataset"]["val_range"] == [8501, 8600]
    report = (out / "report.md").read_text()
    assert "LSPet PCK@0.2" in report and "| right_ankle |" in report
    # the report says what the config did, nothing hard-coded from another recipe
    assert "flip test, DARK decoding" in report  # the quickstart_lspet recipe: codec dark, eval.flip_test true
    for stale in ("hours on 2 cores", "8500 training images", "160x160,"):
        assert stale not in report
    assert captured.out.startswith("PCK@0.2 ")
    cfg = load_experiment(out / "train" / "config.yaml")
    assert cfg.data["dataset"] == "lspet" and Path(cfg.data["val_images"]) == lspet.resolve() / "images"
