"""``edgepose oracle topdown|bottomup``: the codec's upper bound, from ground truth alone.

Ground-truth keypoints are encoded into the network's targets (heatmaps, or heatmaps + PAFs), decoded by the
real decoder and scored with COCOeval. No images are needed: this is the best AP the codec allows, so a model
that scores far below it is limited by learning, not by its targets or post-processing.
"""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("oracle", help="encode ground truth, decode it, and score it with COCOeval")
    sub = p.add_subparsers(dest="oracle_kind", metavar="KIND", required=True)

    td = sub.add_parser("topdown", help="GT boxes + keypoints -> heatmaps -> decoded poses -> COCOeval")
    td.add_argument("--ann", required=True, help="COCO person-keypoints JSON")
    td.add_argument("--codec", choices=("msra", "dark"), default="msra")
    td.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), default=(256, 192))
    td.add_argument("--sigma", type=float, default=2.0)
    td.add_argument("--rescore-nms", action="store_true", help="apply OKS rescoring + OKS-NMS as in evaluation")
    td.add_argument("--json", action="store_true", help="print one JSON object of the metrics")
    td.set_defaults(func=run_topdown)

    bu = sub.add_parser("bottomup", help="GT -> heatmaps + PAFs at stride 8 -> grouping -> COCOeval")
    bu.add_argument("--ann", required=True, help="COCO person-keypoints JSON")
    bu.add_argument("--height", type=int, default=368, help="network input height the image is scaled to")
    bu.add_argument("--json", action="store_true", help="print one JSON object of the metrics")
    bu.set_defaults(func=run_bottomup)


def _report(metrics: dict[str, float], as_json: bool) -> None:
    if as_json:
        print(json.dumps(metrics))
        return
    for key, value in metrics.items():
        print(f"{key:>5s} {value:.4f}")


def run_topdown(args: argparse.Namespace) -> int:
    from edgepose.evaluation.oracle_topdown import run_topdown_oracle

    metrics = run_topdown_oracle(
        args.ann,
        codec=args.codec,
        input_size=tuple(args.input_size),
        sigma=args.sigma,
        rescore_nms=args.rescore_nms,
    )
    _report(metrics, args.json)
    return 0


def run_bottomup(args: argparse.Namespace) -> int:
    from edgepose.evaluation.oracle_bottomup import run_bottomup_oracle

    metrics = run_bottomup_oracle(args.ann, height=args.height)
    _report(metrics, args.json)
    return 0
