"""The grammar every command shares (issue 15 item 5) and main's one-line errors (issue 15 item 6, issue 11 item 4).

* ``--set a=1 b=2`` and ``--set a=1 --set b=2`` give the same overrides in every command that takes them.
* A command that needs an optional dependency missing from the install ends in one line naming the extra
  (``edgepose models`` / ``export`` in an ``edgepose[runtime]``-only environment, simulated by making torch
  unimportable in a child process).
* An operating-system error on a named file (permission, disk full, a folder where a file belongs) is one line.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from edgepose.cli import main as cli_main
from edgepose.cli.main import build_parser, main, missing_dependency_message
from edgepose.config import parse_overrides
from edgepose.errors import ConfigError

# Each command that takes --set, with the arguments it needs to parse.
COMMANDS = {
    "train": ["train", "c.yaml"],
    "eval": ["eval", "c.yaml", "--weights", "w.pt"],
    "quickstart": ["quickstart"],
    "ssim": ["ssim", "flpn_sres50"],
    "ssim sweep": ["ssim", "sweep", "c.yaml"],
    "predict": ["predict", "photo.jpg"],
    "complexity": ["complexity", "flpn_sres50"],
    "export": ["export", "flpn_sres50", "--out", "x.onnx"],
    "bench latency": ["bench", "latency", "flpn_sres50"],
    "bench profile": ["bench", "profile", "flpn_sres50"],
}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_set_takes_both_forms_in_every_command(command):
    parser = build_parser()
    argv = COMMANDS[command]
    one = parser.parse_args([*argv, "--set", "a=1", "b=[2,3]"])
    repeated = parser.parse_args([*argv, "--set", "a=1", "--set", "b=[2,3]"])
    mixed = parser.parse_args([*argv, "--set", "a=1", "b=[2,3]", "--set", "c=x"])
    assert one.overrides == repeated.overrides == ["a=1", "b=[2,3]"], command
    assert mixed.overrides == ["a=1", "b=[2,3]", "c=x"], command
    assert parser.parse_args(argv).overrides == [], command  # no --set: an empty list, never None


def test_a_positional_after_set_gets_a_hint():
    """``--set`` takes every word up to the next option, so a model name written after it is read as an override."""
    args = build_parser().parse_args(["export", "--out", "x.onnx", "flpn_sres50", "--set", "gc=false", "ratios=[2,2]"])
    assert args.model == "flpn_sres50" and args.overrides == ["gc=false", "ratios=[2,2]"]
    with pytest.raises(ConfigError, match="put positional arguments before --set"):
        parse_overrides(["gc=false", "flpn_sres50"])


def test_set_helper_is_the_only_set_definition():
    """Every ``--set`` of the CLI goes through edgepose.cli.common, so the grammar cannot drift apart again."""
    cli = Path(cli_main.__file__).parent
    offenders = [p.name for p in cli.glob("*.py") if p.name != "common.py" and '"--set"' in p.read_text()]
    assert offenders == [], f"--set defined outside edgepose/cli/common.py: {offenders}"


# --------------------------------------------------------------------------- missing optional dependencies
def test_missing_dependency_message_names_the_extra():
    torch_msg = missing_dependency_message(ModuleNotFoundError("No module named 'torch'", name="torch"))
    assert torch_msg is not None and "pip install 'edgepose[torch]'" in torch_msg
    ort_msg = missing_dependency_message(ModuleNotFoundError("No module named 'onnxruntime'", name="onnxruntime"))
    assert ort_msg is not None and "edgepose[runtime]" in ort_msg
    # a module of edgepose itself (a bug, not an install problem) keeps its traceback
    assert missing_dependency_message(ModuleNotFoundError("x", name="edgepose.nothing")) is None


def test_main_turns_missing_torch_into_one_line(monkeypatch, capsys):
    def needs_torch(args):
        raise ModuleNotFoundError("No module named 'torch'", name="torch")

    parser = build_parser()
    args = parser.parse_args(["models"])
    monkeypatch.setattr(cli_main, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: _with_func(args, needs_torch))
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "edgepose models: error:" in err and "edgepose[torch]" in err


def _with_func(args, func):
    args.func = func
    return args


@pytest.mark.parametrize(
    "argv", [["models"], ["export", "flpn_sres50", "--out", "x.onnx"]], ids=["models", "export"]
)
def test_commands_needing_torch_say_which_extra_without_it(argv, tmp_path, run_without_torch):
    proc = run_without_torch(["-m", "edgepose", *argv], cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"edgepose {argv[0]}: error:" in lines[0] and "pip install 'edgepose[torch]'" in lines[0]
    assert not (tmp_path / "x.onnx").exists()


# ----------------------------------------------------------------------------------- operating-system errors
def test_main_reports_os_errors_on_named_files_in_one_line(monkeypatch, capsys):
    parser = build_parser()
    args = parser.parse_args(["models"])

    def disk_full(_args):
        raise OSError(28, "No space left on device", "/data/out/last.pt")

    monkeypatch.setattr(cli_main, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: _with_func(args, disk_full))
    assert main(["models"]) == 2
    err = capsys.readouterr().err
    assert err == "edgepose models: error: /data/out/last.pt: No space left on device\n"


def test_main_keeps_tracebacks_of_os_errors_without_a_file(monkeypatch):
    parser = build_parser()
    args = parser.parse_args(["models"])

    def bug(_args):
        raise OSError("something internal")

    monkeypatch.setattr(cli_main, "build_parser", lambda: parser)
    monkeypatch.setattr(parser, "parse_args", lambda argv=None: _with_func(args, bug))
    with pytest.raises(OSError, match="something internal"):
        main(["models"])
