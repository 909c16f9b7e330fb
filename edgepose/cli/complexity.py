"""`edgepose complexity` (placeholder until implemented)."""

from __future__ import annotations

import argparse

from edgepose.errors import EdgeposeError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("complexity", help="(not implemented yet)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    raise EdgeposeError("'complexity' is not implemented yet")
