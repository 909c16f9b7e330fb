"""`edgepose synth`: write a synthetic COCO-format person-keypoint dataset of drawn figures."""

from __future__ import annotations

import argparse
import json

from edgepose.cli.checks import check_int, output_dir


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "synth",
        help="generate a synthetic COCO-format keypoint dataset (drawn people)",
        description="Draw a COCO-format person-keypoint dataset of synthetic human figures: "
        "OUT/images/*.jpg and OUT/annotations/person_keypoints_{train,val}.json. Deterministic per --seed "
        "(byte-identical output whatever --workers). See docs/synthetic.md.",
    )
    p.add_argument("out", metavar="OUT", help="output folder")
    p.add_argument("--images", type=int, default=200, help="number of images (default 200)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--size", type=int, nargs=2, metavar=("W", "H"), default=(320, 256),
                   help="image width and height (default 320 256)")  # fmt: skip
    p.add_argument("--min-people", type=int, default=1, help="fewest annotated people per image (default 1)")
    p.add_argument("--max-people", type=int, default=4, help="most annotated people per image (default 4)")
    p.add_argument(
        "--crowd-prob",
        type=float,
        default=0.1,
        help="chance per image of an iscrowd=1 region of tiny unannotated people (default 0.1)",
    )
    p.add_argument("--occluder-prob", type=float, default=0.3,
                   help="chance per image of random occluding shapes (default 0.3)")  # fmt: skip
    p.add_argument("--val-fraction", type=float, default=0.2,
                   help="fraction of images in the 'val' split; 0 writes only 'train' (default 0.2)")  # fmt: skip
    p.add_argument("--quality", type=int, default=92, help="JPEG quality (default 92)")
    p.add_argument("--area", choices=("figure", "bbox"), default="figure",
                   help="annotation area (OKS scale): the figure's pixel area (COCO-like) or its box area "
                   "(lenient); default figure")  # fmt: skip
    p.add_argument("--workers", type=int, default=1, help="processes (output does not depend on it; default 1)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from edgepose.data.synthetic import SynthConfig, generate_dataset

    check_int(args.seed, "--seed", minimum=0)  # numpy's SeedSequence takes no negative seed
    check_int(args.images, "--images")
    cfg = SynthConfig(
        images=args.images, seed=args.seed, width=args.size[0], height=args.size[1], min_people=args.min_people,
        max_people=args.max_people, crowd_prob=args.crowd_prob, occluder_prob=args.occluder_prob,
        val_fraction=args.val_fraction, jpeg_quality=args.quality, area=args.area, workers=args.workers,
    )  # fmt: skip
    cfg.validate()  # bad numbers before the output folder is created
    output_dir(args.out, "OUT")
    summary = generate_dataset(args.out, cfg, progress=not args.json)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"wrote {args.images} images to {summary['image_dir']} "
          f"({summary['images_per_second']} images/s, {summary['seconds']} s)")  # fmt: skip
    for split, path in summary["annotations"].items():
        c = summary["counts"][split]
        print(f"  {split}: {path}  ({c['images']} images, {c['persons']} persons, "
              f"{c['crowd_regions']} crowd regions, {c['labelled_keypoints']} labelled keypoints)")  # fmt: skip
    return 0
