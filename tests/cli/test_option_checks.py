"""`synth` and `oracle`: bad numbers and places are one-line errors before any work; oracle options are explained."""

from __future__ import annotations

import argparse

import pytest

from edgepose.cli.main import build_parser, main


def _one_line_error(capfd) -> str:
    err = capfd.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_synth_negative_seed_and_bad_out(tmp_path, capfd):
    assert main(["synth", str(tmp_path / "d"), "--seed", "-1", "--images", "2"]) == 2
    assert "--seed must be >= 0" in _one_line_error(capfd)
    assert not (tmp_path / "d").exists(), "nothing created for a bad option"
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    assert main(["synth", str(a_file), "--images", "2"]) == 2
    assert "must be a folder" in _one_line_error(capfd)
    assert main(["synth", str(a_file / "d"), "--images", "2"]) == 2
    assert "is a file, not a folder" in _one_line_error(capfd)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["topdown", "--input-size", "0", "0"], "--input-size must be two multiples of 4"),
        (["topdown", "--sigma", "nan"], "--sigma must be a finite number"),
        (["bottomup", "--height", "0"], "--height must be >= 16"),
    ],
)
def test_oracle_bad_numbers(tmp_path, capfd, args, words):
    ann = tmp_path / "gt.json"
    ann.write_text('{"images": [], "annotations": []}')
    assert main(["oracle", args[0], "--ann", str(ann), *args[1:]]) == 2
    assert words in _one_line_error(capfd)


def test_every_oracle_option_has_help_text():
    parser = build_parser()
    oracle = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices["oracle"]
    kinds = next(a for a in oracle._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(kinds) == {"topdown", "bottomup"}
    for name, sub in kinds.items():
        for action in sub._actions:
            if action.option_strings and action.dest != "help":
                assert action.help and len(action.help) > 10, f"oracle {name} {action.option_strings[0]}"
