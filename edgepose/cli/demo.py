"""`edgepose demo`: the shipped model on real photos, in seconds, with nothing to download or train.

    edgepose demo                              # the bundled photos -> output/demo/
    edgepose demo --images my_photos/          # your own images (a file or a folder)
    edgepose demo --detector hog               # person boxes from OpenCV's HOG detector instead of the whole image

It runs the embedded default model (``edgepose/assets/model/model.onnx``: a small FLPN, LSP-14 keypoints, trained
on LSPet's sports photos) with the torch-free runtime (ONNX Runtime + OpenCV), on the CC BY / CC BY-SA COCO
photos bundled with the package (``edgepose/assets/photos/``, attribution in ``ATTRIBUTION.md`` there), and
writes into ``--out``:

* ``<photo>_pose.jpg`` -- each photo with the skeleton drawn on it;
* ``poses.json`` -- the keypoint set and names, and per image its size, the time it took and every person's
  ``keypoints`` (one ``[x, y, score]`` row per name, in image pixels), ``score`` and ``box`` (x, y, w, h).

The model finds one person per box, and by default the box is the whole image (as in its training and in
``edgepose pck``), so photos where one person dominates work best; ``--detector hog`` gives a box per upright
person. Nothing here imports torch, so the demo also runs in an ``edgepose[runtime]``-only install.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from edgepose.cli.common import add_backend_argument, add_refine_argument, use_backend
from edgepose.errors import ConfigError, DataError

DEFAULT_OUT = "output/demo"
POSES_JSON = "poses.json"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="the shipped model on the bundled real photos: drawn skeletons + JSON in seconds (no torch)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--images", metavar="PATH", help="an image or a folder of images (default: the bundled photos)")
    p.add_argument("--out", default=DEFAULT_OUT, metavar="DIR", help="output folder (default: %(default)s)")
    p.add_argument("--onnx", metavar="MODEL.onnx", help="a top-down model exported by `edgepose export` "
                   "(default: the shipped model)")  # fmt: skip
    p.add_argument("--detector", choices=("hog",), help="person boxes from OpenCV's HOG people detector "
                   "(default: the whole image is one person's box)")  # fmt: skip
    p.add_argument("--threshold", type=float, default=0.3, help="keypoint score to draw (default 0.3)")
    p.add_argument("--no-flip-test", dest="flip_test", action="store_false",
                   help="skip the flip test (about twice as fast, slightly less accurate)")  # fmt: skip
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: one per core)")
    add_refine_argument(p)
    add_backend_argument(p)
    p.set_defaults(func=run)


def demo_images(images: str | None) -> list[Path]:
    """The images to run on: ``images`` (a file or a folder) or, by default, the bundled photos."""
    from edgepose.assets import demo_photos
    from edgepose.runtime.sources import IMAGE_EXTENSIONS

    if images is None:
        return demo_photos()
    path = Path(images)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise DataError(f"--images: folder has no images ({', '.join(IMAGE_EXTENSIONS)})", path)
        return files
    if not path.is_file():
        raise DataError("--images: no such file or folder", path)
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise DataError(f"--images: not an image file ({', '.join(IMAGE_EXTENSIONS)})", path)
    return [path]


def _person_record(person: Any) -> dict[str, Any]:
    return {
        "score": round(float(person.score), 4),
        "box": [round(float(v), 1) for v in person.box],
        "keypoints": [[round(float(x), 1), round(float(y), 1), round(float(s), 3)] for x, y, s in person.keypoints],
    }


def run(args: argparse.Namespace) -> int:
    import cv2
    import numpy as np

    from edgepose.assets import shipped_onnx
    from edgepose.config import atomic_write_text
    from edgepose.runtime import PoseEstimator
    from edgepose.runtime.boxes import HogDetector
    from edgepose.runtime.sources import read_image_bgr
    from edgepose.vis.draw import draw_poses

    if args.threads is not None and args.threads < 1:
        raise ConfigError(f"--threads must be >= 1, got {args.threads}")
    use_backend(args)
    images = demo_images(args.images)  # bad input fails before the model loads
    model_path = Path(args.onnx) if args.onnx else shipped_onnx()
    t0 = time.perf_counter()
    estimator = PoseEstimator.from_onnx(model_path, threads=args.threads, flip_test=args.flip_test,
                                        refine=args.refine)  # fmt: skip
    if estimator.task != "topdown":
        raise ConfigError(f"the demo runs top-down models; {estimator.info.model_name} is {estimator.task}", model_path)
    # one warm-up call so the first photo's time is the model's, not ONNX Runtime's first-run allocations
    h, w = estimator.info.input_size
    estimator(np.zeros((h, w, 3), np.uint8))
    load_seconds = time.perf_counter() - t0
    detector = HogDetector() if args.detector == "hog" else None
    spec = estimator.keypoint_spec
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    info = estimator.info
    print(f"model: {model_path} ({info.model_name}, {spec.num_keypoints} {spec.name.upper()} keypoints, "
          f"{h}x{w} input, loaded in {load_seconds:.2f} s)")  # fmt: skip
    print(f"boxes: {'HOG people detector' if detector else 'the whole image (one person per photo)'}; "
          f"flip test {'on' if args.flip_test else 'off'}")  # fmt: skip

    records: list[dict[str, Any]] = []
    times: list[float] = []
    for path in images:
        image = read_image_bgr(path)
        t = time.perf_counter()
        boxes = scores = None
        box_kind = "image"
        if detector is not None:
            boxes, scores = detector(image)
            if len(boxes):
                box_kind = "hog"
            else:  # nobody upright found: fall back to the whole image
                boxes = scores = None
        persons = estimator(image, boxes, scores)
        seconds = time.perf_counter() - t
        times.append(seconds)
        drawn = out / f"{path.stem}_pose.jpg"  # never the input's own name, even when --out is its folder
        canvas = draw_poses(image, persons, skeleton=estimator.draw_skeleton, threshold=args.threshold,
                            boxes=box_kind == "hog")  # fmt: skip
        ok, buf = cv2.imencode(".jpg", canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise DataError("cannot encode the drawn image", drawn)
        buf.tofile(str(drawn))
        records.append({
            "file": path.name,
            "source": str(path),
            "drawn": str(drawn),
            "width": int(image.shape[1]),
            "height": int(image.shape[0]),
            "seconds": round(seconds, 4),
            "boxes": box_kind,
            "people": [_person_record(p) for p in persons],
        })  # fmt: skip
        n = len(persons)
        note = "  (HOG found nobody: the whole image)" if detector is not None and box_kind == "image" else ""
        print(f"  {path.name:<32} {image.shape[1]}x{image.shape[0]:<5} {n} {'person' if n == 1 else 'people'}  "
              f"{seconds * 1000:6.1f} ms{note}")  # fmt: skip

    # the time per image includes the detector (when asked for) and the flip test: what a user waits for
    payload = {
        "model": str(model_path),
        "model_name": info.model_name,
        "keypoint_set": spec.name,
        "keypoint_names": list(spec.names),
        "skeleton": [list(limb) for limb in estimator.draw_skeleton],
        "boxes": args.detector or "image",
        "flip_test": bool(args.flip_test),
        "seconds_per_image": round(float(np.mean(times)), 4),
        "images": records,
    }
    poses = out / POSES_JSON
    atomic_write_text(poses, json.dumps(payload, indent=1))
    print(f"{len(images)} images, {1000 * float(np.mean(times)):.1f} ms per image on average "
          f"({sum(times):.2f} s in all)")  # fmt: skip
    print(f"drawn skeletons: {out}/*_pose.jpg")
    print(f"poses (JSON, {spec.name} keypoints): {poses}")
    return 0
