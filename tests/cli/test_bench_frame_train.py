"""`edgepose bench frame` and `edgepose bench train`: the fields they report and the order they time in.

Fake networks and the toy task keep these fast; nothing here asserts a duration.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgepose.analysis.frame_budget import STAGES, bottomup_case, run_frames, topdown_case
from edgepose.assets import demo_photos
from edgepose.cli.main import main
from edgepose.runtime import ModelInfo, PoseEstimator

ENGINE_TESTS = Path(__file__).resolve().parents[1] / "engine"


class CountingNetwork:
    """A stand-in network: zero maps of the right shapes, and the batch sizes it was called with."""

    def __init__(self, outputs: dict[str, tuple[int, int]], stride: int) -> None:
        self.outputs, self.stride, self.calls = outputs, stride, []

    def __call__(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.calls.append(len(batch))
        h, w = batch.shape[2] // self.stride, batch.shape[3] // self.stride
        return {name: np.zeros((len(batch), c, h, w), np.float32) for name, (c, _) in self.outputs.items()}


def _estimators():
    td_net = CountingNetwork({"heatmaps": (17, 0)}, 4)
    top = PoseEstimator(td_net, ModelInfo("fake_td", "topdown", (64, 48), "imagenet", 4, "coco"))
    bu_net = CountingNetwork({"heatmaps": (19, 0), "pafs": (38, 0)}, 8)
    bottom = PoseEstimator(bu_net, ModelInfo("fake_bu", "bottomup", (128, 128), "openpose", 8, "coco",
                                             outputs=("heatmaps", "pafs")), height=128)  # fmt: skip
    return top, td_net, bottom, bu_net


def test_frame_stages_shares_batching_and_interleaving():
    top, td_net, bottom, _ = _estimators()
    image = demo_photos()[0]
    cases = [topdown_case(top, image, 5), topdown_case(top, image, 1), bottomup_case(bottom, image, people=3)]
    order = []
    for case in cases:  # record which case runs when
        case.run = (lambda run, label: lambda record: (order.append(label), run(record))[1])(case.run, case.label)
    results = run_frames(cases, warmup=1, runs=3)
    labels = [c.label for c in cases]
    assert order[:3] == labels  # warm-ups, then one run per case per round, each round rotated by one
    assert order[3:] == [*labels, *labels[1:], labels[0], labels[2], *labels[:2]]
    for res in results:
        d = res.to_dict(raw=True)
        assert list(d["stages"]) == list(STAGES)
        assert all(len(s["wall_ms"]) == len(s["cpu_ms"]) == 3 for s in d["stages"].values())
        assert sum(s["share"] for s in d["stages"].values()) == pytest.approx(1.0)
        assert d["total_ms"] == pytest.approx(sum(s["median_ms"] for s in d["stages"].values()))
    # the five crops of one frame go to the network together (twice: the flip test), 4 rounds of each case
    assert td_net.calls.count(5) == 2 * 4 and td_net.calls.count(1) == 2 * 4 and set(td_net.calls) == {1, 5}
    assert "synthetic maps of 3 people" in results[2].case.note


def test_cli_bench_frame_json_with_the_shipped_model(capsys):
    argv = ["bench", "frame", "--no-bottomup", "--people", "2", "--runs", "1", "--warmup", "0", "--threads", "1",
            "--json"]  # fmt: skip
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert [f["people"] for f in data["frames"]] == [2]
    assert set(data["frames"][0]["stages"]) == set(STAGES)
    assert {"load_avg_before", "load_avg_after", "machine", "order", "models"} <= set(data)
    assert main(["bench", "frame", "--people", "0"]) == 2


def test_cli_bench_train_reports_network_loader_and_their_ratio(tmp_path, capsys, monkeypatch):
    monkeypatch.syspath_prepend(str(ENGINE_TESTS))
    from toy_task import write_toy_config

    from edgepose.engine.task import TASK_TABLE

    monkeypatch.setitem(TASK_TABLE, "toy", "toy_task:ToyTask")  # as tests/engine/conftest.py does

    from edgepose.engine.task import TASK_TABLE

    monkeypatch.setitem(TASK_TABLE, "toy", "toy_task:ToyTask")  # as tests/engine/conftest.py does

    config = write_toy_config(tmp_path)
    argv = ["bench", "train", str(config), "--steps", "2", "--warmup", "1", "--workers", "0", "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["network_images_per_s"] > 0 and len(data["network_blocks_images_per_s"]) == 2
    (row,) = data["loaders"]
    assert row["workers"] == 0 and row["loader_images_per_s"] > 0 and row["loop_images_per_s"] > 0
    assert row["loader_cpu_ms_per_image"] >= 0 and len(data["network_cpu_ms_per_image"]) == 2
    assert row["ratio"] == pytest.approx(row["loop_images_per_s"] / data["network_images_per_s"])
    assert 0 <= row["wait_share"] <= 1 and data["batch_size"] == 8 and data["device"] == "cpu"
    assert len(data["load_avg_before"]) == 3 and "omp_wait_policy" in data["machine"]
    assert main(["bench", "train", str(config), "--steps", "0"]) == 2
