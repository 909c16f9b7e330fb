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
