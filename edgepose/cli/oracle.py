"""``edgepose oracle topdown|bottomup``: the codec's upper bound, from ground truth alone.

Ground-truth keypoints are encoded into the network's targets (heatmaps, or heatmaps + PAFs), decoded by the
real decoder and scored with COCOeval. No images are needed: this is the best AP the codec allows, so a model
that scores far below it is limited by learning, not by its targets or post-processing. People the oracle
leaves out (boxes outside the image, zero-area boxes) are counted on stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter

from edgepose.cli.checks import check_float, check_int
from edgepose.errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "oracle",
        help="encode ground truth, decode it, and score it with COCOeval",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="oracle_kind", metavar="KIND", required=True)

    td = sub.add_parser(
        "topdown",
        help="GT boxes + keypoints -> heatmaps -> decoded poses -> COCOeval",
        description="Top-down codec oracle: every non-crowd person's GT box becomes a crop, its keypoints "
        "heatmaps, decoded back by the codec and scored with COCOeval (pycocotools).",
    )
    td.add_argument("--ann", required=True, help="COCO person-keypoints JSON (ground truth)")
    td.add_argument("--codec", choices=("msra", "dark"), default="msra",
                    help="heatmap decoder: msra (argmax + quarter-pixel shift) or dark (Taylor refinement); "
                    "default msra")  # fmt: skip
    td.add_argument("--input-size", type=int, nargs=2, metavar=("H", "W"), default=(256, 192),
                    help="network input (crop) size; heatmaps are a quarter of it (default 256 192)")  # fmt: skip
    td.add_argument("--sigma", type=float, default=2.0,
                    help="Gaussian sigma of the target heatmaps, in heatmap pixels (default 2)")  # fmt: skip
    td.add_argument("--rescore-nms", action="store_true", help="apply OKS rescoring + OKS-NMS as in evaluation")
    td.add_argument("--json", action="store_true", help="print one JSON object of the metrics")
    td.set_defaults(func=run_topdown)

    bu = sub.add_parser(
        "bottomup",
        help="GT -> heatmaps + PAFs at stride 8 -> grouping -> COCOeval",
        description="Bottom-up codec oracle: each image's GT people are rendered into heatmaps and PAFs at "
        "stride 8, decoded by peak finding and PAF grouping and scored with COCOeval (pycocotools).",
    )
    bu.add_argument("--ann", required=True, help="COCO person-keypoints JSON (ground truth)")
    bu.add_argument("--height", type=int, default=368,
                    help="network input height the image is scaled to (default 368)")  # fmt: skip
    bu.add_argument("--json", action="store_true", help="print one JSON object of the metrics")
    bu.set_defaults(func=run_bottomup)


def _report(metrics: dict[str, float], as_json: bool) -> None:
    if as_json:
        print(json.dumps(metrics))
        return
    for key, value in metrics.items():
        print(f"{key:>5s} {value:.4f}")


def _say_skipped(skipped: Counter) -> None:
    """One stderr line with the people the figures leave out, by reason (nothing when none)."""
    if sum(skipped.values()):
        reasons = ", ".join(f"{n} {why}" for why, n in skipped.most_common())
        print(f"edgepose oracle: skipped {sum(skipped.values())} annotations ({reasons})", file=sys.stderr)


def run_topdown(args: argparse.Namespace) -> int:
    from edgepose.evaluation.oracle_topdown import run_topdown_oracle

    h, w = args.input_size
    if h < 8 or w < 8 or h % 4 or w % 4:
        raise ConfigError(f"--input-size must be two multiples of 4 (the heatmap stride), >= 8, got {h} {w}")
    check_float(args.sigma, "--sigma", minimum=0.1, maximum=64.0)
    skipped: Counter = Counter()
    metrics = run_topdown_oracle(
        args.ann,
        codec=args.codec,
        input_size=(h, w),
        sigma=args.sigma,
        rescore_nms=args.rescore_nms,
        skipped=skipped,
    )
    _say_skipped(skipped)
    _report(metrics, args.json)
    return 0


def run_bottomup(args: argparse.Namespace) -> int:
    from edgepose.evaluation.oracle_bottomup import run_bottomup_oracle

    check_int(args.height, "--height", minimum=16)
    skipped: Counter = Counter()
    metrics = run_bottomup_oracle(args.ann, height=args.height, skipped=skipped)
    _say_skipped(skipped)
    _report(metrics, args.json)
    return 0
