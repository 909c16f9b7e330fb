"""benchmarks/gpu_lspet.py's CPU dry run: the prepared GPU script runs end to end and writes sane JSON lines."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_lspet.py"


def _script():
    spec = importlib.util.spec_from_file_location("gpu_lspet", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scaled_schedule_keeps_the_recipe_fractions():
    s = _script()
    assert s.scaled_schedule(140) == [90, 120]
    assert s.scaled_schedule(14) == [9, 12]
    assert s.scaled_schedule(1) == []  # nothing to drop in a one-epoch run


@pytest.mark.slow  # three ResNet-sized models, 2 steps each at 64x64 on CPU
def test_dry_run_writes_one_sane_json_line_per_model(lspet, tmp_path, monkeypatch):
    monkeypatch.setenv("OUT", str(tmp_path / "out"))
    s = _script()
    assert s.main(["--dry-run", "--root", str(lspet)]) == 0
    lines = [json.loads(x) for x in (tmp_path / "out" / "gpu_lspet.jsonl").read_text().splitlines()]
    assert [x["model"] for x in lines] == list(s.MODELS)
    for x in lines:
        assert set(s.FIELDS) <= set(x)
        assert 0.0 <= x["PCK@0.2"] <= 1.0
        assert x["params"] > 1e6 and x["macs"] > x["params"]  # full-size models at 64x64
        assert x["images_per_s"] > 0 and x["epochs"] == 1 and x["wall_seconds"] > 0
        assert x["device"] == "cpu" and x["device_name"] and x["dry_run"] is True
        assert "140 epochs" in x["recipe"] and x["val_images"] == 2
    # the store was built beside the output (never in the repository) and is small
    store = tmp_path / "out" / "cache" / "train_store.npz"
    assert store.is_file() and store.stat().st_size < 1e6
    sizes = {x["model"]: x["params"] for x in lines}
    assert sizes["flpn_sres50"] < sizes["simplebaseline_r50"]
