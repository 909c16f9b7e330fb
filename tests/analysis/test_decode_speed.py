"""``bench decode``'s person counts: every decoded group (``found``) and the whole ones (``whole``).

With one person drawn the decoder finds exactly one; with crowds it returns extra groups, limb fragments split
off where people overlap, which used to show as a "found" above the people drawn with no explanation
(issue 15 item 7).
"""

from __future__ import annotations

from edgepose.analysis.decode_speed import WHOLE_MIN_KEYPOINTS, benchmark_decode, format_table
from edgepose.cli.main import main


def test_found_and_whole_counts():
    rows = benchmark_decode(people=(1, 10), repeats=2, height=368)
    one, ten = rows
    assert one["found"] == one["whole"] == 1.0
    assert ten["found"] >= ten["whole"]
    assert 7 <= ten["whole"] <= 10, ten  # overlapping people may merge or lose limbs, never more whole people
    assert ten["found"] > ten["whole"], "crowds of 10 leave fragments with these seeds (2-5 keypoints each)"


def test_table_explains_found(capsys):
    rows = [{"people": 5, "ms_mean": 1.0, "ms_median": 1.0, "ms_upsample": 0.1, "ms_peaks": 0.2, "ms_group": 0.3,
             "cpu_ms_mean": 1.0, "found": 7.5, "whole": 5.0}]  # fmt: skip
    text = format_table(rows)
    assert "7.5" in text and "5.0" in text and f">= {WHOLE_MIN_KEYPOINTS} keypoints" in text
    assert main(["bench", "decode", "--people", "1", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    assert "whole" in out.splitlines()[0] and "fragments" in out
