"""Small functions in the network builders and the PAF decoder: none reaches 80 lines (as in ``engine/``)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "edgepose"
CHECKED = [*sorted((PACKAGE / "models").rglob("*.py")), PACKAGE / "codecs" / "paf_decode.py"]


def test_no_model_or_paf_decode_function_is_80_lines_long():
    long = []
    for path in CHECKED:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno >= 80:
                long.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}")
    assert len(CHECKED) > 10 and long == []
