"""The reports of ``edgepose bench profile`` / ``decode`` and the OpenMP policy, called as the package (issue 21:
the command line only parses and calls these, so they are tested without it)."""

from __future__ import annotations

import pytest

from edgepose.analysis.bench_report import format_decode_rows, format_profile
from edgepose.analysis.omp_wait import set_omp_wait_policy
from edgepose.errors import EdgeposeError


def _profile(**extra: object) -> dict:
    return {"model": "lpn50", "batch": 2, "input_size": [64, 48], "channels_last": False, "fused_bn": True,
            "total_ms": 8.0, "by_kind": {"Conv2d 1x1": 6.0, "BatchNorm2d": 2.0}, "by_path": {"head": 8.0},
            **extra}  # fmt: skip


def test_profile_report_names_the_case_and_cuts_each_table_at_top():
    lines = format_profile(_profile(), top=1).splitlines()
    title = "lpn50 batch 2 at 64x48, contiguous, BN folded: 8.0 ms CPU per forward (1 thread, hooks included)"
    assert lines[0] == title
    assert lines[1:3] == ["", "  by module kind:"] and "by module path:" in lines[5]
    conv = lines[3]
    assert conv.split()[:2] == ["Conv2d", "1x1"] and conv.endswith("6.00 ms  75.0%")  # 6 of 8 ms
    assert not any("BatchNorm2d" in line for line in lines)  # --top 1 keeps the largest only
    assert lines[-1].endswith("8.00 ms 100.0%") and len(lines) == 7


def test_decode_table_puts_the_timings_first_and_explains_found():
    rows = [{"people": 1, "found": 1.5, "ms_mean": 2.0, "ms_median": 1.25, "extra": "x"},
            {"people": 20, "found": 21.0, "ms_mean": 30.0, "ms_median": 29.5, "extra": "y"}]  # fmt: skip
    lines = format_decode_rows(rows).splitlines()
    assert lines[0].split() == ["people", "ms_median", "ms_mean", "found", "extra"]
    assert lines[1].split() == ["1", "1.25", "2.00", "1.50", "x"] and lines[2].split()[0] == "20"
    assert lines[3].startswith("found = groups decoded per image") and len(lines) == 4
    assert "found =" not in format_decode_rows([{"people": 1, "ms_mean": 1.0}])


def test_omp_wait_policy_refuses_an_unknown_choice():
    with pytest.raises(EdgeposeError, match="--omp-wait must be one of passive, active, inherit"):
        set_omp_wait_policy("spin")
