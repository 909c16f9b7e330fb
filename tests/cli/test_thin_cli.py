"""A thin command line (issue 21): ``edgepose/cli/`` parses arguments and calls the package.

A command module that grows past 250 lines has work in it (report building, table printing, loops, file writing)
that belongs in the package, where a notebook can call it and its tests need no argument parsing. And a file a
command writes goes through the one atomic writer (:mod:`edgepose.io`), so no ``write_text`` / ``open(..., "w")``
in ``cli/`` at all.
"""

from __future__ import annotations

import re
from pathlib import Path

CLI = Path(__file__).resolve().parents[2] / "edgepose" / "cli"
LIMIT = 250
PLAIN_WRITE = re.compile(r"\.write_(text|bytes)\(|\bopen\([^)]*[\"'][wax]b?\+?[\"']")


def _modules() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(CLI.glob("*.py"))}


def test_no_cli_module_is_over_250_lines() -> None:
    modules = _modules()
    assert {"bench.py", "ssim.py", "main.py"} <= set(modules) and len(modules) >= 10  # the folder was really read
    long = {name: n for name, text in modules.items() if (n := len(text.splitlines())) > LIMIT}
    assert long == {}, f"cli/ modules over {LIMIT} lines: move their work into the package"


def test_cli_modules_write_no_file_themselves() -> None:
    offenders = [f"{name}:{i}" for name, text in _modules().items()
                 for i, line in enumerate(text.splitlines(), 1) if PLAIN_WRITE.search(line)]  # fmt: skip
    assert offenders == [], "write through edgepose.io (atomic), from the package"


def test_the_write_pattern_sees_plain_writes() -> None:
    """The check above is not vacuous: the forms it forbids are matched, reading and ``os.open`` are not."""
    assert PLAIN_WRITE.search('(out / "x.json").write_text(text)')
    assert PLAIN_WRITE.search('with open(path, "w") as fh:') and PLAIN_WRITE.search("open(p, 'wb')")
    assert not PLAIN_WRITE.search('Path(p).read_text(encoding="utf-8")')
    assert not PLAIN_WRITE.search("os.open(os.devnull, os.O_WRONLY)") and not PLAIN_WRITE.search('open(p, "r")')
