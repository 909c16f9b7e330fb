"""`edgepose demo`: the shipped model on real photos, in seconds, with nothing to download or train.

    edgepose demo                              # the bundled photos -> output/demo/
    edgepose demo --images my_photos/          # your own images (a file or a folder)
    edgepose demo --detector none              # the whole image as one person's box, no detector
    edgepose demo --fast                       # one-person fast mode: whole image, one INT8 network call
    edgepose demo --detector hog               # OpenCV's HOG people detector instead of the shipped one

It runs the embedded default model (``edgepose/assets/model/``: MoveNet's MobileNetV2 network fine-tuned on
LSPet for LSP-14 keypoints, with Intel's Lightweight OpenPose as its people detector; ``MODEL.md``) with the
torch-free runtime (ONNX Runtime + OpenCV), on the CC BY / CC BY-SA COCO photos bundled with the package
(``edgepose/assets/photos/``, attribution in ``ATTRIBUTION.md`` there), and writes into ``--out``:

* ``<photo>_pose.jpg`` -- each photo with the skeleton drawn on it;
* ``poses.json`` -- the results document of :mod:`edgepose.runtime.pipeline` (the schema ``edgepose predict``
  writes too): the keypoint set and names, and per image its size, the time it took and every person's
  ``keypoints`` (one ``[x, y, score]`` row per name, in image pixels), ``score``, ``box`` (x, y, w, h) and how
  many joints reach ``--threshold``.

Per photo it prints how many people it found; a pose whose every joint is below ``--threshold`` is said and
drawn faintly (never a silent blank). An unreadable image in a folder is skipped and named (exit status 1).

The top-down model finds one person per box; by default the boxes are the people the shipped detector finds
(padded boxes of their joints), and a photo where it finds nobody falls back to the whole image (said).
``--detector none`` uses the whole image (one person per photo, as ``edgepose pck`` does), ``--detector hog``
OpenCV's people detector, ``--detector MODEL`` another bottom-up model (.onnx or checkpoint). The default path
imports no torch, so the demo also runs in an ``edgepose[runtime]``-only install.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from edgepose.cli.checks import check_float, output_dir
from edgepose.cli.common import (
    DETECTOR_HELP,
    add_backend_argument,
    add_refine_argument,
    check_threads,
    detector_refine,
    load_estimator,
    resolve_detector,
    use_backend,
)
from edgepose.cli.fast import add_fast_argument, apply_fast
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
    p.add_argument("--detector", metavar="default|none|hog|MODEL", help=DETECTOR_HELP + " (default: 'default'; "
                   "a photo where it finds nobody uses the whole image, and says so)")  # fmt: skip
    p.add_argument("--threshold", type=float, default=0.3, help="keypoint score to draw (default 0.3)")
    p.add_argument("--no-flip-test", dest="flip_test", action="store_false",
                   help="skip the flip test (about twice as fast, slightly less accurate)")  # fmt: skip
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: one per core)")
    add_refine_argument(p)
    add_fast_argument(p)
    add_backend_argument(p)
    p.set_defaults(func=run)


def demo_images(images: str | None) -> list[Path]:
    """The images to run on: ``images`` (a file or a folder) or, by default, the bundled photos."""
    from edgepose.assets import demo_photos
    from edgepose.pathkind import path_kind
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
        kind = path_kind(path)
        raise DataError("--images: no such file or folder" if kind is None else
                        f"--images: this is {kind}, not an image or a folder", path)  # fmt: skip
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise DataError(f"--images: not an image file ({', '.join(IMAGE_EXTENSIONS)})", path)
    return [path]


def image_frames(paths: list[Path]):
    """:class:`~edgepose.runtime.sources.Frame` per path; an unreadable one has ``image=None`` and its error."""
    from edgepose.runtime.sources import Frame, read_image_bgr

    for i, path in enumerate(paths):
        try:
            yield Frame(read_image_bgr(path), path.name, i, path)
        except DataError as exc:
            yield Frame(None, path.name, i, path, error=str(exc))


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from edgepose.runtime.pipeline import PosePipeline, ResultsWriter, write_image

    apply_fast(args)
    check_threads(args.threads)
    check_float(args.threshold, "--threshold", minimum=0.0)
    use_backend(args)
    images = demo_images(args.images)  # bad input fails before the model loads
    out = output_dir(args.out, "--out", create=False)
    t0 = time.perf_counter()
    estimator, model_path = load_estimator("demo", onnx=args.onnx, threads=args.threads, flip_test=args.flip_test,
                                           refine=args.refine, announce=False)  # fmt: skip
    if estimator.task != "topdown":
        raise ConfigError(f"the demo runs top-down models; {estimator.info.model_name} is {estimator.task}", model_path)
    from edgepose.runtime.boxes import NO_DETECTOR, SHIPPED_DETECTOR

    spec_text = (args.detector or SHIPPED_DETECTOR).strip()
    detector = None if spec_text.lower() == NO_DETECTOR else resolve_detector(spec_text, threads=args.threads)
    # one warm-up call so the first photo's time is the model's, not ONNX Runtime's first-run allocations
    h, w = estimator.info.input_size
    estimator(np.zeros((max(h, 16), max(w, 16), 3), np.uint8))
    load_seconds = time.perf_counter() - t0
    kind = None if detector is None else ("hog" if spec_text.lower() == "hog" else "detector")
    pipeline = PosePipeline(estimator, detector, boxes=kind, fallback_whole_image=True, threshold=args.threshold,
                            box_refine=detector_refine(kind or "image", args.refine))  # fmt: skip
    output_dir(out, "--out")
    writer = ResultsWriter(pipeline, out / POSES_JSON, indent=1, model=model_path)
    spec = estimator.keypoint_spec
    print(f"model: {model_path} ({estimator.info.model_name}, {spec.num_keypoints} {spec.name.upper()} keypoints, "
          f"{h}x{w} input, loaded in {load_seconds:.2f} s)")  # fmt: skip
    what = {"default": "the shipped people detector", "none": "the whole image (one person per photo)"}
    print(f"boxes: {what.get(spec_text.lower(), spec_text)}; flip test "
          f"{'on' if args.flip_test else 'off'}; joints drawn from score {args.threshold:g}")  # fmt: skip

    skipped = []
    for frame, result in pipeline.run(image_frames(images)):
        if result is None:
            skipped.append(frame.name)
            print(f"  {frame.name:<32} skipped: {frame.error}")
            continue
        drawn = out / f"{Path(frame.name).stem}_pose.jpg"  # never the input's own name, even when --out is its folder
        write_image(drawn, pipeline.draw(frame.image, result))
        result.extra.update(source=str(frame.path), drawn=str(drawn))
        writer.add(result)
        print(f"  {result.line()}")
    writer.flush()
    times = [r.seconds for r in writer.results]
    if times:  # the time per image includes the detector (when asked for) and the flip test: what a user waits for
        print(f"{len(times)} images, {1000 * float(np.mean(times)):.1f} ms per image on average "
              f"({sum(times):.2f} s in all)")  # fmt: skip
        print(f"drawn skeletons: {out}/*_pose.jpg")
        print(f"poses (JSON, {spec.name} keypoints): {out / POSES_JSON}")
    if skipped:
        print(f"edgepose demo: {len(skipped)} of {len(images)} images could not be used: {', '.join(skipped[:5])}"
              + (", ..." if len(skipped) > 5 else ""), file=sys.stderr)  # fmt: skip
        return 1
    return 0
