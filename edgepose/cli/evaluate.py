"""``edgepose evaluate-results``: score any COCO keypoint results file with the official COCOeval.

Prints COCOeval's own summary (pycocotools, the reference; ``--backend faster_coco_eval`` gives the same
figures faster) followed by a one-line table, or with ``--json`` one JSON object of the ten statistics
(AP, AP50, AP75, APM, APL, AR, AR50, AR75, ARM, ARL) at full precision. Malformed files are reported on one line.
"""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate-results",
        help="score a COCO keypoint results JSON against annotations with COCOeval (AP, AP50, ..., AR)",
        description="Score a COCO keypoint results file ([{image_id, category_id, keypoints, score}]) against a "
        "COCO person-keypoints annotation file with COCOeval.",
    )
    p.add_argument("--ann", required=True, help="COCO person-keypoints annotation JSON (ground truth)")
    p.add_argument("--results", required=True, help="COCO keypoint results JSON")
    p.add_argument(
        "--backend",
        choices=("auto", "pycocotools", "faster_coco_eval"),
        default="pycocotools",
        help="COCOeval implementation (default pycocotools, the reference; auto: faster-coco-eval if installed)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object of the ten statistics")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgepose.data.coco import read_json, validate_coco_keypoints
    from edgepose.evaluation.coco import STAT_NAMES, evaluate_keypoints

    # the ground truth is checked like every other annotation file: NaN keypoints would make COCOeval score
    # junk results as good ones without a word
    validate_coco_keypoints(read_json(args.ann), args.ann)
    res = evaluate_keypoints(args.ann, args.results, backend=args.backend)
    if args.json:
        print(json.dumps({k: res.metrics[k] for k in STAT_NAMES}))
        return 0
    print(res.summary)
    print(f"({res.num_results} results, {res.backend})")
    print(" ".join(f"{k}={res.metrics[k]:.4f}" for k in STAT_NAMES))
    return 0
