"""`edgepose models` (placeholder until implemented)."""

from __future__ import annotations

import argparse

from edgepose.errors import EdgeposeError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="(not implemented yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise EdgeposeError("'models' is not implemented yet")
