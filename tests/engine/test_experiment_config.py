"""Experiment configs: base inheritance, overrides, unknown keys, path resolution, and every shipped config."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from edgepose.engine.config import (
    ExperimentConfig,
    default_output_dir,
    experiment_to_dict,
    load_experiment,
    normalize_overrides,
    resolve_path,
)
from edgepose.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
CONFIGS = sorted((REPO / "configs").glob("*.yaml"))


def _write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_defaults_are_the_flpn_recipe():
    t = ExperimentConfig().train
    assert (t.optimizer, t.lr, t.lr_milestones, t.lr_gamma, t.epochs, t.batch_size, t.weight_decay) == (
        "adam", 1e-3, [90, 120], 0.1, 140, 32, 0.0,
    )  # fmt: skip


def test_base_inheritance_merges_sections_and_resolves_relative_to_the_file(tmp_path):
    _write(tmp_path / "base" / "parent.yaml", {
        "task": "topdown", "model": {"name": "flpn_sres50", "overrides": {"gc": True, "ratios": [2, 8, 2, 2]}},
        "data": {"dataset": "coco", "train_ann": "ann/train.json"}, "train": {"epochs": 140, "lr": 1e-3},
    })  # fmt: skip
    child = _write(tmp_path / "base" / "sub" / "child.yaml", {
        "base": "../parent.yaml", "model": {"overrides": {"gc": False}}, "train": {"epochs": 10},
    })  # fmt: skip
    cfg = load_experiment(child)
    assert cfg.name == "child" and cfg.model.name == "flpn_sres50"
    assert cfg.model.overrides == {"gc": False, "ratios": [2, 8, 2, 2]}
    assert cfg.train.epochs == 10 and cfg.train.lr == 1e-3
    assert cfg.config_dir == str((tmp_path / "base" / "sub").resolve())
    # Relative data paths resolve against the loaded file's folder (not the current directory).
    assert resolve_path(cfg, cfg.data["train_ann"]) == tmp_path / "base" / "sub" / "ann" / "train.json"


def test_base_errors_name_the_file(tmp_path):
    a = _write(tmp_path / "a.yaml", {"base": "b.yaml"})
    _write(tmp_path / "b.yaml", {"base": "a.yaml"})
    with pytest.raises(ConfigError, match="loops"):
        load_experiment(a)
    c = _write(tmp_path / "c.yaml", {"base": "missing.yaml"})
    with pytest.raises(ConfigError, match=r"c\.yaml.*missing\.yaml"):
        load_experiment(c)


def test_unknown_keys_and_bad_values_are_rejected_by_name(tmp_path):
    bad = _write(tmp_path / "bad.yaml", {"train": {"lr_sheduler": "step"}})
    with pytest.raises(ConfigError, match=r"bad\.yaml.*'train\.lr_sheduler'"):
        load_experiment(bad)
    ok = _write(tmp_path / "ok.yaml", {"model": {"name": "flpn_sres50"}})
    with pytest.raises(ConfigError, match="train.optimizer"):
        load_experiment(ok, ["train.optimizer=rmsprop"])
    with pytest.raises(ConfigError, match="train.lr_milestones"):
        load_experiment(ok, ["train.lr_milestones=[120, 90]"])
    with pytest.raises(ConfigError, match="'task'"):
        load_experiment(ok, ["task=sideways"])
    with pytest.raises(ConfigError, match="train.nope"):
        load_experiment(ok, ["train.nope=1"])


def test_overrides_dotted_and_bare_model_keys(tmp_path):
    path = _write(tmp_path / "x.yaml", {"model": {"name": "flpn_sres50"}, "data": {"dataset": "coco"}})
    cfg = load_experiment(path, ["train.lr=5e-4", "data.input_size=[128, 96]", "gc=false", "name=renamed"])
    assert cfg.train.lr == 5e-4 and isinstance(cfg.train.lr, float)
    assert cfg.data["input_size"] == [128, 96]
    assert cfg.model.overrides == {"gc": False}
    assert cfg.name == "renamed"
    assert normalize_overrides({"ratios": [2, 2, 2, 2]}) == {"model.overrides.ratios": [2, 2, 2, 2]}


def test_saved_config_round_trips_with_the_same_path_resolution(tmp_path):
    path = _write(tmp_path / "cfgs" / "exp.yaml", {"model": {"name": "flpn_sres50"}, "data": {"val_ann": "v.json"}})
    cfg = load_experiment(path)
    saved = _write(tmp_path / "out" / "config.yaml", experiment_to_dict(cfg))
    again = load_experiment(saved)
    assert again == cfg
    assert resolve_path(again, "v.json") == tmp_path / "cfgs" / "v.json"


def test_resolve_path_expands_variables_and_output_dir_default(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEPOSE_TEST_ROOT", str(tmp_path))
    cfg = ExperimentConfig(name="exp", model={"name": "lpn50"}, data={"dataset": "mpii"}, config_dir="/elsewhere")
    assert resolve_path(cfg, "$EDGEPOSE_TEST_ROOT/a.json") == tmp_path / "a.json"
    assert resolve_path(cfg, "/abs/b.json") == Path("/abs/b.json")
    assert default_output_dir(cfg) == Path("output/mpii/lpn50/exp")
    cfg.output_dir = str(tmp_path / "runs")
    assert default_output_dir(cfg) == tmp_path / "runs"


# --------------------------------------------------------------------------------------- shipped configs
EXPECTED = {
    "flpn_sres50_coco_256x192", "flpn_sres101_coco_256x192", "flpn_sres152_coco_256x192",
    "simplebaseline_r50_coco_256x192", "lpn50_coco_256x192", "flpn_sres50_mpii_256x256",
    "flpn_sres50_coco_256x192_nogc", "flpn_sres50_coco_256x192_standard", "flpn_sres50_coco_256x192_ghost",
    "flpn_sres50_coco_256x192_mobilenetv3", "flpn_sres50_coco_256x192_maxpool_stem",
    "flpn_sres50_coco_256x192_plain_deconv", "flpn_sres50_coco_256x192_uniform_ratios",
    "xfuse_ghostnet_coco_368", "xfuse_resnet18_coco_368", "xfuse_resnet50_coco_368", "lwop_mobilenet_coco_368",
    "quickstart",
}  # fmt: skip


def test_every_expected_config_is_shipped():
    missing = EXPECTED - {p.stem for p in CONFIGS}
    assert not missing, f"missing configs: {sorted(missing)}"


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_shipped_config_loads_and_names_a_known_model(path):
    from edgepose.models import MODEL_TABLE, model_options

    cfg = load_experiment(path)
    assert cfg.name == path.stem
    assert cfg.model.name in MODEL_TABLE
    options = model_options(cfg.model.name)
    unknown = set(cfg.model.overrides) - set(options)
    assert not unknown, f"{path.name}: model options {sorted(unknown)} do not exist"


def test_paper_recipes():
    flpn = load_experiment(REPO / "configs" / "flpn_sres50_coco_256x192.yaml")
    t = flpn.train
    assert (t.optimizer, t.lr, t.weight_decay, t.lr_milestones, t.lr_gamma, t.epochs, t.batch_size) == (
        "adam", 1e-3, 0.0, [90, 120], 0.1, 140, 32,
    )  # fmt: skip
    assert flpn.task == "topdown" and flpn.data["input_size"] == [256, 192]
    for name in ("xfuse_ghostnet_coco_368", "lwop_mobilenet_coco_368"):
        b = load_experiment(REPO / "configs" / f"{name}.yaml")
        t = b.train
        assert b.task == "bottomup"
        assert (t.optimizer, t.lr, t.weight_decay, t.lr_milestones, t.lr_gamma, t.epochs, t.batch_size) == (
            "adam", 4e-5, 5e-4, [100, 200, 260], 0.333, 280, 80,
        )  # fmt: skip
    ablations = {
        "nogc": {"gc": False}, "standard": {"bottleneck": "standard"}, "ghost": {"bottleneck": "ghost"},
        "mobilenetv3": {"bottleneck": "mobilenetv3"}, "maxpool_stem": {"stem": "maxpool"},
        "plain_deconv": {"head": "deconv"}, "uniform_ratios": {"ratios": [2, 2, 2, 2]},
    }  # fmt: skip
    for suffix, overrides in ablations.items():
        cfg = load_experiment(REPO / "configs" / f"flpn_sres50_coco_256x192_{suffix}.yaml")
        for k, v in overrides.items():
            assert cfg.model.overrides.get(k) == v, (suffix, k)
        assert cfg.train == flpn.train and cfg.data == flpn.data  # only the model differs
    mpii = load_experiment(REPO / "configs" / "flpn_sres50_mpii_256x256.yaml")
    assert mpii.data["dataset"] == "mpii" and mpii.data["input_size"] == [256, 256]
