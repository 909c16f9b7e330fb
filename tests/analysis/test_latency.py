"""The latency harness: statistics, round-robin timing, and the `bench` CLI with tiny settings (no timing asserts)."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from torch import nn

from edgepose.analysis.latency import (
    LatencyReport,
    LatencyRow,
    Timing,
    bench_models,
    bench_torch_model,
    format_latency_table,
    machine_info,
    measure,
    measure_interleaved,
    torch_threads,
)
from edgepose.cli.main import main


def test_timing_statistics():
    t = Timing([5.0, 1.0, 4.0, 2.0, 3.0])
    assert t.runs == 5 and t.median_ms == 3.0 and t.min_ms == 1.0 and t.mean_ms == 3.0
    assert t.p90_ms == pytest.approx(4.6)  # linear interpolation between the 4th and 5th order statistics
    assert t.spread_pct == pytest.approx(100 * (4.0 - 2.0) / 3.0)  # IQR / median
    assert set(t.to_dict()) == {"runs", "median_ms", "p90_ms", "mean_ms", "min_ms", "spread_pct"}
    both = Timing([2.0, 4.0], wall_ms=[2.0, 4.0], cpu_ms=[1.0, 1.5])
    assert both.to_dict()["cpu_median_ms"] == 1.25 and "cpu_ms" not in both.to_dict()
    assert both.to_dict(raw=True)["cpu_ms"] == [1.0, 1.5] and both.to_dict(raw=True)["wall_ms"] == [2.0, 4.0]


def test_measure_calls_warmup_plus_runs_times():
    calls = []
    t = measure(lambda: calls.append(1), warmup=3, runs=7)
    assert len(calls) == 10 and t.runs == 7 and all(x >= 0 for x in t.times_ms)
    with pytest.raises(ValueError):
        measure(lambda: None, runs=0)
    with pytest.raises(ValueError, match="clock"):
        measure(lambda: None, clock="sundial")


def test_cpu_clock_counts_compute_not_sleep():
    import time

    t = measure(lambda: time.sleep(0.02), warmup=0, runs=2, clock="cpu")
    assert all(0 <= x < 15 for x in t.times_ms)  # sleeping costs (almost) no CPU time
    assert all(x >= 15 for x in measure(lambda: time.sleep(0.02), warmup=0, runs=2).times_ms)


def test_measure_interleaved_is_one_call_per_case_per_round_rotated_after_all_warmups():
    order = []
    fns = {name: (lambda n=name: order.append(n)) for name in ("a", "b", "c")}
    out = measure_interleaved(fns, warmup=1, runs=4)
    warmups, rounds = order[:3], order[3:]
    assert warmups == ["a", "b", "c"]
    assert rounds == ["a", "b", "c", "b", "c", "a", "c", "a", "b", "a", "b", "c"]  # each round starts one later
    assert [out[n].runs for n in "abc"] == [4, 4, 4]
    assert all(len(out[n].wall_ms) == len(out[n].cpu_ms) == 4 for n in "abc")  # both clocks, every call


def test_torch_threads_is_restored():
    before = torch.get_num_threads()
    with torch_threads(1) as n:
        assert n == 1 == torch.get_num_threads()
    assert torch.get_num_threads() == before


def test_bench_torch_model_both_formats_and_auto():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, groups=1), nn.Conv2d(8, 8, 3, padding=1, groups=8))
    for cl in (False, True, None):
        timing, used = bench_torch_model(model, (1, 3, 16, 16), warmup=1, runs=2, channels_last=cl, threads=1)
        assert timing.runs == 2 and timing.median_ms > 0
        assert used in (True, False) and (cl is None or used == cl)
    assert not model.training


def test_bench_models_reports_rows_ratios_and_machine():
    report = bench_models(["lpn50", "flpn_sres50"], batches=(1, 2), input_size=(64, 48), warmup=1, runs=2,
                          threads=1, channels_last=True, fuse_bn=True)  # fmt: skip
    assert [(r.label, r.batch) for r in report.rows] == [("lpn50", 1), ("flpn_sres50", 1), ("lpn50", 2),
                                                        ("flpn_sres50", 2)]  # fmt: skip
    assert all(r.timing.median_ms > 0 and r.input_size == (64, 48) for r in report.rows)
    ratios = report.ratios()
    assert ratios[0] == 1.0 and ratios[2] == 1.0 and all(x > 0 for x in ratios)
    assert report.ratios("cpu")[0] == 1.0 and len(report.load_before) == 3
    assert {"cpu", "cpu_count", "torch_threads", "torch"} <= set(report.machine)
    assert report.machine["torch_threads"] == 1
    assert all(r.extra["fused_bn"] for r in report.rows)
    text = format_latency_table(report)
    assert "flpn_sres50" in text and "channels_last" in text and "machine:" in text


def test_report_takes_rows_from_other_backends():
    """Engineer H's hook: any callable timed with measure() becomes a row beside the torch ones."""
    rows = [LatencyRow("net", 1, (8, 8), Timing([2.0, 2.0])),
            LatencyRow("net-onnx", 1, (8, 8), Timing([1.0, 1.0]), backend="onnxruntime")]  # fmt: skip
    report = LatencyReport(rows=rows, machine=machine_info(), warmup=0, runs=2)
    assert report.ratios() == [1.0, 0.5]
    data = report.to_dict()
    assert data["rows"][1]["backend"] == "onnxruntime" and data["rows"][1]["ratio_to_first"] == 0.5
    assert "onnxruntime" in format_latency_table(report, markdown=True)


def test_cli_bench_latency_json(capsys):
    argv = ["bench", "latency", "lpn50", "lwop_mobilenet", "--runs", "2", "--warmup", "1", "--batch", "1",
            "--input-size", "64", "64", "--threads", "1", "--no-channels-last", "--clock", "cpu", "--json"]  # fmt: skip
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in data["rows"]] == ["lpn50", "lwop_mobilenet"]
    assert all(r["median_ms"] > 0 and r["p90_ms"] > 0 and r["channels_last"] is False for r in data["rows"])
    assert data["rows"][0]["ratio_to_first"] == 1.0 and data["machine"]["torch_threads"] == 1
    assert data["clock"] == "cpu"
    # the fields a trustworthy comparison needs: both clocks per call, spread, ratios on both clocks, the load
    # before and after, the OpenMP wait policy, and how the calls were ordered
    row = data["rows"][1]
    assert len(row["wall_ms"]) == len(row["cpu_ms"]) == 2 and row["cpu_median_ms"] > 0 and row["spread_pct"] >= 0
    assert {"wall_ratio_to_first", "cpu_ratio_to_first", "ratio_to_first"} <= set(row)
    assert {"load_avg_before", "load_avg_after", "omp_wait_policy", "order"} <= set(data)
    assert len(data["load_avg_before"]) == len(data["load_avg_after"]) == 3
    assert "already loaded" in data["omp_wait_policy"]  # torch was imported by this test process first


def test_omp_wait_policy_is_set_before_torch_loads_and_left_alone_after(monkeypatch):
    import os
    import subprocess

    code = ("import os, sys; from edgepose.cli.bench import set_omp_wait_policy as s; "
            "assert 'torch' not in sys.modules; print(s('passive'), os.environ['OMP_WAIT_POLICY'])")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.split() == ["PASSIVE", "PASSIVE"]
    from edgepose.cli.bench import set_omp_wait_policy

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert "not changed" in set_omp_wait_policy("passive") and "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert set_omp_wait_policy("inherit") == "ACTIVE"


def test_cli_bench_latency_errors(capsys):
    assert main(["bench", "latency", "no_such_model", "--runs", "1"]) == 2
    assert "no_such_model" in capsys.readouterr().err
    assert main(["bench", "latency", "lpn50", "--runs", "0"]) == 2
    assert main(["bench", "latency", "lpn50", "--set", "bogus=1", "--runs", "1", "--input-size", "64", "48"]) == 2
    assert "bogus" in capsys.readouterr().err


def test_cli_bench_decode_missing_module_is_a_one_line_error(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "edgepose.analysis.decode_speed", None)
    assert main(["bench", "decode", "--people", "1", "--repeats", "1"]) == 2
    err = capsys.readouterr().err
    assert "decode_speed" in err and err.count("\n") == 1


def test_cli_bench_decode_calls_benchmark_decode(monkeypatch, capsys):
    import types

    seen = {}

    def fake(people=(1, 5, 10, 20), repeats=20, height=368):
        seen.update(people=people, repeats=repeats, height=height)
        return [{"people": p, "ms_mean": 1.5, "ms_median": 1.0} for p in people]

    monkeypatch.setitem(sys.modules, "edgepose.analysis.decode_speed", types.SimpleNamespace(benchmark_decode=fake))
    assert main(["bench", "decode", "--people", "1", "3", "--repeats", "2", "--json"]) == 0
    assert seen == {"people": (1, 3), "repeats": 2, "height": 368}
    data = json.loads(capsys.readouterr().out)
    assert [r["people"] for r in data["rows"]] == [1, 3]
    assert main(["bench", "decode", "--people", "2", "--repeats", "1"]) == 0
    assert "people" in capsys.readouterr().out


def test_fold_batchnorm_keeps_outputs_and_removes_bn():
    from edgepose.analysis.latency import fold_batchnorm

    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU()).eval()
    with torch.no_grad():
        model[1].running_mean.uniform_(-1, 1)
        model[1].running_var.uniform_(0.5, 2)
        model[1].weight.uniform_(0.5, 2)
    fused, ok = fold_batchnorm(model)
    assert ok and not any(isinstance(m, nn.BatchNorm2d) for m in fused.modules())
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(fused(x), model(x), rtol=1e-4, atol=1e-5)
    assert any(isinstance(m, nn.BatchNorm2d) for m in model.modules())  # the original is untouched


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)) + x)


def test_profile_modules_attributes_self_time_by_kind_and_collapsed_path():
    from edgepose.analysis.latency import profile_modules

    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.Sequential(_Block(), _Block()))
    threads = torch.get_num_threads()
    out = profile_modules(model, (1, 3, 16, 16), runs=2, warmup=1)
    assert torch.get_num_threads() == threads
    assert out["total_ms"] > 0
    assert {"Conv2d 1x1", "Conv2d 3x3 depthwise", "BatchNorm2d", "_Block (own ops)"} <= set(out["by_kind"])
    assert "1.conv" in out["by_path"] and "1.0.conv" not in out["by_path"]  # repeated blocks collapse
    assert all(v >= 0 for v in out["by_kind"].values())
    assert sum(out["by_kind"].values()) == pytest.approx(sum(out["by_path"].values()))
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_cli_bench_profile(capsys):
    argv = ["bench", "profile", "lpn50", "--input-size", "64", "48", "--runs", "1", "--warmup", "0", "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["model"] == "lpn50" and data["total_ms"] > 0 and data["by_kind"] and data["by_path"]
    assert main(["bench", "profile", "lpn50", "--input-size", "64", "48", "--runs", "1", "--top", "3"]) == 0
    assert "by module kind" in capsys.readouterr().out
