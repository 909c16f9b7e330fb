"""The deployment latency table: speed-ups over torch eager, post-processing share, ratios to the baseline."""

from __future__ import annotations

from edgepose.analysis.deploy_latency import DeployRow, format_deploy_table


def _row(model: str, torch_ms: float, ort_ms: float, post: float) -> DeployRow:
    net = {"torch": torch_ms, "onnxruntime": ort_ms, "onnxruntime-int8": ort_ms / 2}
    return DeployRow(model, "bottomup", "frame", 1, 2, (368, 496), net, pre_ms=1.0, post_ms=post)


def test_table_ratios():
    rows = [_row("lwop_mobilenet", 300.0, 150.0, 9.0), _row("xfuse_ghostnet", 200.0, 100.0, 9.0)]
    md = format_deploy_table({"rows": rows}, markdown=True).splitlines()
    assert len(md) == 4
    head, lwop, xfuse = ([c.strip() for c in line.strip("|").split("|")] for line in (md[0], md[2], md[3]))
    col = {name: i for i, name in enumerate(head)}
    assert lwop[col["ORT×"]] == "2.00" and lwop[col["INT8×"]] == "4.00"
    # totals: lwop 1 + 150 + 9 = 160 ms, xfuse 1 + 100 + 9 = 110 ms
    assert lwop[col["vs baseline"]] == "1.00" and xfuse[col["vs baseline"]] == f"{110 / 160:.2f}"
    assert xfuse[col["post %"]] == "8" and xfuse[col["total ORT ms"]] == "110.0"
    assert rows[1].to_dict()["total_ms"]["onnxruntime"] == 110.0
    plain = format_deploy_table({"rows": rows}).splitlines()
    assert len(plain) == 3 and "xfuse_ghostnet" in plain[2]


def test_bench_model_returns_one_row_per_case_and_thread_count(tmp_path, monkeypatch):
    """``bench_model`` end to end on a tiny top-down net (export, INT8 calibration on noise, interleaved timing,
    pre/post): the structure of the rows, not the timings."""
    import math

    from torch import nn

    from edgepose.analysis import deploy_latency
    from edgepose.meta import describe_network

    class Tiny(nn.Sequential):
        task, input_size, stride, num_keypoints, model_name = "topdown", (64, 48), 4, 17, "tiny"
        input_normalization = "imagenet"

    def tiny(name: str) -> nn.Module:
        assert name == "tiny_topdown"
        model = Tiny(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU(), nn.Conv2d(8, 17, 3, 2, 1))
        model.model_info = describe_network(model, model_name="tiny_topdown", keypoints="coco", codec="msra")
        return model

    monkeypatch.setattr("edgepose.models.build_model", tiny)
    rows = deploy_latency.bench_model("tiny_topdown", tmp_path, threads=(1,), warmup=0, runs=2, crowd=3)
    assert [(r.case, r.batch, r.threads) for r in rows] == [("batch1", 1, 1), ("crowd10", 3, 1)]
    for r in rows:
        assert (r.model, r.task, r.input_size) == ("tiny_topdown", "topdown", (64, 48))
        assert set(r.network_ms) == set(deploy_latency.BACKENDS)
        times = [*r.network_ms.values(), r.pre_ms, r.post_ms]
        assert all(math.isfinite(v) and v > 0 for v in times)
        d = r.to_dict()
        assert d["total_ms"]["onnxruntime"] == r.pre_ms + r.network_ms["onnxruntime"] + r.post_ms
    assert (tmp_path / "tiny_topdown.onnx").is_file() and (tmp_path / "tiny_topdown.int8.onnx").is_file()
