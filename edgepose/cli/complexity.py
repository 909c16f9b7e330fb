"""``edgepose complexity``: parameters, MACs and HR-1024 "GFLOPs" of a model, or of every model vs the papers.

    edgepose complexity flpn_sres50                      # table with the per-part breakdown
    edgepose complexity flpn_sres50 --set gc=false --json
    edgepose complexity lwop_mobilenet --input-size 256 456
    edgepose complexity --all [--markdown | --json]      # every model and FLPN ablation next to the paper

Conventions (docs/complexity.md): ``params`` = all parameters; ``MACs`` = true multiply-accumulates
(transposed convs at input resolution, functional matmuls excluded); ``HR-1024`` = HRNet's
``get_model_summary`` figure (Conv*/Linear weight·output-pixels / 1024³).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from edgepose.cli.checks import check_int
from edgepose.cli.common import add_set_argument
from edgepose.errors import EdgeposeError

# Every network here downsamples by 32 (FLPN, the baselines) or 8 with 3x3 convs on top; below 32 pixels the
# deepest feature map is empty and PyTorch fails with a kernel-size traceback.
MIN_INPUT_SIZE = 32


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "complexity",
        help="parameters, MACs and HR-1024 GFLOPs of a model (or --all models next to the papers' figures)",
        description="Count parameters, true MACs and HR-1024 GFLOPs with one batch-1 forward pass. "
        "See docs/complexity.md for the conventions.",
    )
    p.add_argument("model", nargs="?", help="model name (see `edgepose models`)")
    p.add_argument("--all", action="store_true", help="every model and FLPN ablation next to the paper's figures")
    p.add_argument("--input-size", nargs=2, type=int, metavar=("H", "W"), help="input size (default: the model's)")
    add_set_argument(p, help="model option overrides, YAML-typed: --set gc=false ratios=[2,2,2,2] (or repeat --set)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--markdown", action="store_true", help="with --all: a Markdown table (docs/complexity.md)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgepose.config import parse_overrides

    if args.all:
        if args.model or args.overrides or args.input_size:
            raise EdgeposeError("--all takes no model, --set or --input-size (it uses each row's own settings)")
        return _run_all(json_out=args.json, markdown=args.markdown)
    if not args.model:
        raise EdgeposeError("name a model (see `edgepose models`) or pass --all")
    if args.markdown:
        raise EdgeposeError("--markdown goes with --all")
    for v in args.input_size or ():
        check_int(v, "--input-size", minimum=MIN_INPUT_SIZE)
    overrides = parse_overrides(args.overrides)
    from edgepose.analysis.complexity import complexity_of

    report = complexity_of(args.model, input_size=args.input_size, overrides=overrides)
    if args.json:
        print(json.dumps(report.to_dict()))
    else:
        print(format_report(report))
    return 0


def format_report(report: Any) -> str:
    """A human-readable table of one ComplexityReport with its per-part breakdown."""
    h, w = report.input_size
    title = f"{report.model or 'model'}"
    if report.overrides:
        title += " (" + ", ".join(f"{k}={v}" for k, v in report.overrides.items()) + ")"
    lines = [
        f"{title} at {h}x{w}, batch 1",
        f"  params      {report.params / 1e6:10.4f} M   (Conv/BN/Linear only, HRNet style: "
        f"{report.params_hr1024 / 1e6:.4f} M)",
        f"  MACs        {report.macs / 1e9:10.4f} G   true multiply-accumulates"
        + (f" (+{report.matmul_macs / 1e9:.4f} G functional matmul, not included)" if report.matmul_macs else ""),
        f"  HR-1024     {report.hr1024_gflops:10.4f}     HRNet get_model_summary 'GFLOPs' (÷1024³)",
        "",
        f"  {'part':<14}{'params (M)':>12}{'MACs (G)':>12}{'HR-1024':>10}{'share':>8}",
    ]
    for name, part in report.parts.items():
        share = part["macs"] / report.macs if report.macs else 0.0
        lines.append(
            f"  {name:<14}{part['params'] / 1e6:>12.4f}{part['macs'] / 1e9:>12.4f}"
            f"{part['hr1024_gflops']:>10.4f}{share:>8.1%}"
        )
    return "\n".join(lines)


def all_rows(progress: bool = True) -> list[dict[str, Any]]:
    """One comparison dict per paper-figure row, plus every model without a paper row, at default settings.

    A model that cannot be built (module missing, constructor error) gives a row with ``error`` set.
    """
    from edgepose.analysis.complexity import complexity_of
    from edgepose.analysis.paper_figures import PAPER_FIGURES, PaperFigure, compare
    from edgepose.models import list_models

    figures = list(PAPER_FIGURES)
    covered = {f.model for f in figures if not f.overrides}
    figures += [PaperFigure(name, name, source="(no paper figure)") for name in list_models() if name not in covered]
    rows = []
    for fig in figures:
        if progress:
            print(f"counting {fig.label} ...", file=sys.stderr, flush=True)
        try:
            report = complexity_of(fig.model, input_size=fig.input_size, overrides=fig.overrides)
        except Exception as exc:
            rows.append({"label": fig.label, "model": fig.model, "overrides": dict(fig.overrides),
                         "error": f"{type(exc).__name__}: {exc}"})  # fmt: skip
            continue
        rows.append(compare(fig, report))
    return rows


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def _model_cell(row: dict[str, Any]) -> str:
    sets = " ".join(f"{k}={json.dumps(v, separators=(',', ':'))}" for k, v in row.get("overrides", {}).items())
    return f"{row['model']} {sets}".strip()


def _rows_table(rows: list[dict[str, Any]], markdown: bool) -> str:
    header = ["row", "model --set", "input", "params M", "MACs G", "HR-1024", "paper params", "paper FLOPs",
              "conv.", "Δ params", "Δ FLOPs", "fit", "spec params / MACs / HR"]  # fmt: skip
    table = []
    for r in rows:
        if "error" in r:
            table.append([r["label"], _model_cell(r), "—", "error: " + r["error"], *[""] * 9])
            continue
        spec = " / ".join(_fmt(r[k], ".3f") for k in ("spec_params_m", "spec_macs_g", "spec_hr1024_g"))
        conv = {"macs": "MACs", "hr1024": "HR-1024"}.get(r["flops_convention"] or "", "—")
        if r["params_convention"] == "hr1024":
            conv += ", params C/BN/L"
        table.append([
            r["label"], _model_cell(r), "x".join(map(str, r["input_size"])),
            _fmt(r["params_m"], ".3f"), _fmt(r["macs_g"], ".3f"), _fmt(r["hr1024_g"], ".3f"),
            _fmt(r["paper_params_m"], ".4g"), _fmt(r["paper_flops_g"], ".4g"), conv,
            _fmt(r["params_rel"], "+.1%"), _fmt(r["flops_rel"], "+.1%"),
            {True: "yes", False: "no"}.get(r.get("within_tolerance"), "—"), spec,
        ])  # fmt: skip
    if markdown:
        out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in table]
        return "\n".join(out)
    widths = [max(len(header[i]), *(len(row[i]) for row in table)) for i in range(len(header))]
    fmt_row = lambda cells: "  ".join(c.ljust(widths[i]) for i, c in enumerate(cells)).rstrip()  # noqa: E731
    return "\n".join([fmt_row(header), fmt_row(["-" * w for w in widths]), *map(fmt_row, table)])


def _run_all(json_out: bool, markdown: bool) -> int:
    rows = all_rows(progress=not json_out)
    if json_out:
        print(json.dumps({"rows": rows}))
    else:
        print(_rows_table(rows, markdown))
        if not markdown:
            print("\nΔ = (ours − paper) / paper, in the paper's convention (conv.); spec = SPEC reconstruction.")
            print("fit = within ±3 % params and ±5 % FLOPs; why the others cannot: docs/models.md, 'Paper rows'.")
    return 1 if any("error" in r for r in rows) else 0
