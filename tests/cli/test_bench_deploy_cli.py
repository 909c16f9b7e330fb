"""`edgepose bench deploy` argument checks (the benchmark itself is exercised in tests/analysis)."""

from __future__ import annotations

from edgepose.cli.main import main


def test_unknown_model_is_a_one_line_error(capsys):
    assert main(["bench", "deploy", "no_such_model", "--runs", "1"]) == 2
    err = capsys.readouterr().err
    assert "no_such_model" in err and err.count("\n") == 1


def test_missing_image_is_named(capsys, tmp_path):
    missing = tmp_path / "frame.jpg"
    assert main(["bench", "deploy", "lpn50", "--image", str(missing)]) == 2
    assert str(missing) in capsys.readouterr().err
