"""`edgepose predict`: poses on an image, a folder, a video file or a camera, drawn and/or written as COCO JSON.

    edgepose predict photo.jpg                                  # the shipped model, results in predictions/
    edgepose predict photo.jpg --fast                           # one person, one network call (fast mode)
    edgepose predict photo.jpg --weights runs/xfuse/best.pt --out out/
    edgepose predict images/ --onnx flpn_sres50.onnx --boxes detections.json --json results.json
    edgepose predict clip.mp4 --onnx xfuse_ghostnet.onnx --smooth --out out/
    edgepose predict 0 --weights flpn.pt --detector xfuse.onnx --show      # camera 0, in a window

The model is one of ``--weights CKPT`` (rebuilds the checkpoint's model), ``--onnx MODEL.onnx`` (torch-free) or
``--model NAME`` (random weights: only for trying the pipeline); with none, the shipped model (``MODEL.md``).
Top-down models need person boxes: by default those of the shipped people detector (``--detector default``:
Intel's Lightweight OpenPose, padded boxes of each person's joints), ``--detector none`` (the whole image as one
box), ``--detector hog``, ``--detector MODEL`` (another bottom-up model: a checkpoint or .onnx) or ``--boxes
DET.json`` (COCO detection results); ``--fast`` is the one-person fast mode (:mod:`edgepose.cli.fast`). Boxes that
cannot hold a person (NaN, inf, empty, outside the image) are dropped and counted; top-down poses go through
OKS-NMS (``--nms-threshold``, 0.7), so overlapping boxes of one person draw one skeleton.

Outputs: ``--out DIR`` gets each annotated image as soon as it is done (videos and cameras: ``DIR/<name>_pose.mp4``
with an FPS overlay); ``--json FILE`` gets COCO keypoint results (``pycocotools`` ``loadRes`` reads them),
rewritten atomically every ``--flush-every`` frames and at the end, also after Ctrl-C or an error, so finished
work is never lost, plus ``FILE`` with ``.meta.json`` naming its keypoint set, names and skeleton. Without
``--out``, ``--json`` and ``--show`` both go to ``predictions/`` (said on stderr). ``--show`` opens a window
(q or Esc stops). The run ends with a timing summary (ms per frame, FPS). An unreadable image inside a folder is
reported and skipped (exit status 1 at the end); an unreadable single image, an empty video, a missing camera or
a bad option is a one-line error.

Per image it prints one line: how many people it found, or that it found nobody, and when a pose's every joint
is below ``--threshold`` it says so and draws it faintly. The per-image work is
:class:`edgepose.runtime.pipeline.PosePipeline` (as in ``edgepose demo``); ``RESULTS.meta.json`` is its results
document (every image, every pose with its scores), ``RESULTS.json`` the COCO view of it, both written whole once
an image is done: a run where every image fails leaves them as they were.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from pathlib import Path

from edgepose.cli.checks import check_float, check_int, output_dir, output_file
from edgepose.cli.common import (
    DETECTOR_HELP,
    add_backend_argument,
    add_refine_argument,
    add_set_argument,
    box_source,
    detector_refine,
    load_estimator,
    say_shipped,
    use_backend,
)
from edgepose.cli.fast import add_fast_argument, apply_fast
from edgepose.errors import ConfigError

DEFAULT_OUTPUT = Path("predictions")
DEFAULT_NMS = 0.7


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "predict",
        help="pose estimation on images, folders, videos or a camera",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("source", help="image file, folder of images, video file, or camera index (0, 1, ...)")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--weights", metavar="CKPT", help="an edgepose checkpoint (rebuilds its model)")
    model.add_argument("--onnx", metavar="MODEL.onnx", help="an exported model, run with ONNX Runtime (no torch)")
    p.add_argument("--model", metavar="NAME", help="model name (random weights unless --weights is given)")
    add_set_argument(p, help="model option overrides: --set a=1 b=2 or --set a=1 --set b=2")
    boxes = p.add_mutually_exclusive_group()
    boxes.add_argument("--boxes", metavar="DET.json", help="COCO detection results with person boxes")
    boxes.add_argument("--detector", metavar="default|none|hog|MODEL",
                       help=DETECTOR_HELP + " (default: 'default' for top-down models)")
    p.add_argument("--box-threshold", type=float, default=0.3, help="minimum detector/box score (default 0.3)")
    p.add_argument("--nms-threshold", type=float, default=DEFAULT_NMS,
                   help=f"top-down OKS-NMS: drop a pose whose OKS with a better one exceeds this (default "
                   f"{DEFAULT_NMS})")  # fmt: skip
    p.add_argument("--no-nms", dest="nms", action="store_false", help="top-down: keep one pose per box")
    p.add_argument("--out", metavar="DIR", help="write annotated images / videos here")
    p.add_argument("--json", metavar="RESULTS.json", help="write COCO keypoint results here (+ RESULTS.meta.json)")
    p.add_argument("--show", action="store_true", help="show the drawings in a window (needs a display)")
    p.add_argument("--smooth", action="store_true", help="track people and One-Euro-smooth keypoints (video)")
    p.add_argument("--threshold", type=float, default=0.3, help="keypoint confidence to draw (default 0.3)")
    p.add_argument("--no-flip-test", dest="flip_test", action="store_false", help="top-down: skip the flip test")
    add_refine_argument(p)
    add_fast_argument(p)
    add_backend_argument(p)
    p.add_argument("--height", type=int, default=None, help="bottom-up inference height (default: the model's, 368)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the network")
    p.add_argument("--device", default="cpu",
                   help="cpu, or cuda[:N] (PyTorch device for --weights/--model; ONNX Runtime's CUDA provider "
                   "for .onnx models); default cpu")  # fmt: skip
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames/images")
    p.add_argument("--flush-every", type=int, default=50, help="rewrite --json every N frames (default 50)")
    p.set_defaults(func=run)


def check_options(args: argparse.Namespace) -> None:
    """Every numeric option in range before a file is opened or a model built (one line naming the option)."""
    check_int(args.threads, "--threads")
    check_int(args.height, "--height", minimum=16)
    check_int(args.max_frames, "--max-frames")
    check_int(args.flush_every, "--flush-every")
    check_float(args.threshold, "--threshold", minimum=0.0)
    check_float(args.box_threshold, "--box-threshold")
    check_float(args.nms_threshold, "--nms-threshold")
    if not 0 < args.nms_threshold <= 1:
        raise ConfigError(f"--nms-threshold must be in (0, 1], got {args.nms_threshold} (--no-nms keeps every pose)")
    if args.onnx and (args.model or args.overrides):
        raise ConfigError("--model/--set do not apply to --onnx (the .onnx file says what it is)")


def meta_path(json_path: Path) -> Path:
    """``results.json`` -> ``results.meta.json``: the results document beside the COCO results."""
    return json_path.with_name(f"{json_path.stem if json_path.suffix == '.json' else json_path.name}.meta.json")


def _default_stem(source: str) -> str:
    text = source.rstrip("/\\")
    from edgepose.runtime.sources import URL
    if text.isdigit() and not Path(text).exists():
        return f"camera{text}"
    return "stream" if URL.match(text) else (Path(text).stem or "results")


def build_pipeline(args: argparse.Namespace, is_stream: bool):
    """The estimator of the model options, its person boxes, and the pipeline running both."""
    from edgepose.runtime import PoseSmoother
    from edgepose.runtime.pipeline import PosePipeline

    estimator, model = load_estimator("predict", onnx=args.onnx, weights=args.weights, model=args.model,
                                      overrides=args.overrides, device=args.device, threads=args.threads,
                                      flip_test=args.flip_test, height=args.height, refine=args.refine,
                                      nms_threshold=args.nms_threshold if args.nms else None,
                                      announce=False)  # fmt: skip
    boxes, kind = box_source(estimator, boxes=args.boxes, detector=args.detector, box_threshold=args.box_threshold,
                             threads=args.threads, device=args.device, height=args.height)  # fmt: skip
    if not (args.onnx or args.weights or args.model):
        say_shipped("predict", estimator)
    smoother = PoseSmoother(fps=30.0) if args.smooth and is_stream else None
    if args.smooth and not is_stream:
        print("edgepose predict: warning: --smooth only applies to videos and cameras", file=sys.stderr)
    return PosePipeline(estimator, boxes, boxes=kind, threshold=args.threshold, smoother=smoother, box_refine=
                        detector_refine(kind, args.refine), fallback_whole_image=args.detector is None), model


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edgepose.runtime import open_source
    from edgepose.runtime.pipeline import Display, ResultsWriter, VideoOut, write_image

    apply_fast(args)
    check_options(args)
    use_backend(args)
    out_dir = output_dir(args.out, "--out", create=False) if args.out else None
    json_path = output_file(args.json, "--json") if args.json else None
    source = open_source(args.source, max_frames=args.max_frames)  # bad input fails before a model is built
    is_stream = source.kind in ("video", "camera")
    pipeline, model = build_pipeline(args, is_stream)
    if pipeline.smoother is not None and source.fps:
        pipeline.smoother.fps = source.fps
    if not (out_dir or json_path or args.show):
        out_dir = output_dir(DEFAULT_OUTPUT, "default output folder", create=False)
        json_path = output_file(DEFAULT_OUTPUT / f"{_default_stem(args.source)}.json", "default results file")
        print(f"edgepose predict: no --out/--json/--show given: writing drawings and results to {out_dir}/",
              file=sys.stderr)  # fmt: skip
    display = Display("edgepose predict (q or Esc to stop)") if args.show else None
    if out_dir:
        output_dir(out_dir, "--out")
    video_out = VideoOut(out_dir / f"{source.stem}_pose.mp4", source.fps) if out_dir and is_stream else None
    image_ids = source.image_ids() if not is_stream else None
    box_file = getattr(pipeline.box_source, "by_image", None)
    if box_file is not None and image_ids is not None and not any(i in box_file for i in image_ids):
        print(f"edgepose predict: warning: no image of {args.source} has a box in {args.boxes} "
              "(image ids come from COCO file names like 000000000785.jpg)", file=sys.stderr)  # fmt: skip
    writer = ResultsWriter(pipeline, meta_path(json_path) if json_path else None, coco=json_path,
                           every=args.flush_every, model=model, source=str(args.source))  # fmt: skip

    skipped: list[str] = []
    recent: deque[float] = deque(maxlen=30)  # the FPS overlay: mean over the last 30 frames
    t_start = time.perf_counter()
    progress = tqdm(source, total=len(source) or None, unit="frame" if is_stream else "img",
                    disable=source.kind == "image", desc="predict", leave=False)  # fmt: skip
    try:
        for frame, result in pipeline.run(progress, image_ids):
            if result is None:
                skipped.append(frame.name)
                progress.write(f"edgepose predict: skipped {frame.error}", file=sys.stderr)
                continue
            writer.add(result)  # recorded before drawing: a window closed with q keeps this image's poses
            recent.append(result.seconds)
            if not is_stream:
                progress.write(result.line())
            if out_dir or display:
                canvas = pipeline.draw(frame.image, result, fps=len(recent) / max(sum(recent), 1e-9) if is_stream
                                       else None)  # fmt: skip
                if video_out:
                    video_out.write(canvas)
                elif out_dir:
                    write_image(out_dir / frame.name, canvas)
                if display and not display.show(canvas, 1 if is_stream else 0):
                    break
    finally:
        progress.close()
        if video_out:
            video_out.close()
        if display:
            display.close()
        writer.flush()  # only when something new is to be said: an all-broken run keeps old files

    return _report(args, pipeline, writer, json_path, out_dir, skipped, is_stream, time.perf_counter() - t_start)


def _report(args, pipeline, writer, json_path, out_dir, skipped: list[str], is_stream: bool, wall: float) -> int:
    """The closing lines: counts, what was written, timing, dropped boxes, skipped images; the exit status."""
    from edgepose.runtime.boxes import describe_box_counts

    results = writer.results
    done, infer_s = len(results), sum(r.seconds for r in results)
    unit = "frames" if is_stream else "images"
    where = [str(p) for p in (out_dir if done else None, json_path if writer.written else None) if p]
    people = sum(len(r.persons) for r in results)
    said = f"{done} {unit}, {people} {'person' if people == 1 else 'people'}"
    print(said + (f"; wrote {', '.join(where)}" if where else ""))
    nobody, faint = sum(not r.persons for r in results), sum(len(r.faint) for r in results)
    if is_stream and (nobody or faint):
        print(f"{nobody} {unit} with nobody found; {faint} poses with every joint below --threshold "
              f"{args.threshold:g} (drawn faintly)")  # fmt: skip
    if done:
        print(f"time: {1000 * infer_s / done:.1f} ms per {unit[:-1]} for the model ({done / max(infer_s, 1e-9):.1f} "
              f"FPS), {wall:.2f} s in all with reading and writing ({done / max(wall, 1e-9):.1f} FPS)")  # fmt: skip
    if json_path and writer.written:
        print(f"keypoints: {pipeline.header()['keypoint_set']} (results document: {meta_path(json_path)})")
    elif json_path:
        print(f"edgepose predict: no image was done: {json_path} left as it was", file=sys.stderr)
    counts = getattr(pipeline.estimator, "box_counts", None)
    if counts:
        print(f"edgepose predict: warning: {describe_box_counts(counts)}", file=sys.stderr)
    if skipped:
        shown = ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        print(f"edgepose predict: {len(skipped)} of {len(skipped) + done} images could not be used: {shown}",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0
