"""`edgepose predict`: poses on an image, a folder, a video file or a camera, drawn and/or written as COCO JSON.

    edgepose predict photo.jpg --weights runs/xfuse/best.pt --out out/
    edgepose predict images/ --onnx flpn_sres50.onnx --boxes detections.json --json results.json
    edgepose predict clip.mp4 --onnx xfuse_ghostnet.onnx --smooth --out out/
    edgepose predict 0 --weights flpn.pt --detector xfuse.onnx --out out/      # camera 0

The model is one of ``--weights CKPT`` (rebuilds the checkpoint's model), ``--onnx MODEL.onnx`` (the torch-free
runtime: this path never imports torch) or ``--model NAME`` (random weights: only for trying the pipeline).
Bottom-up models need nothing else. Top-down models need person boxes: ``--boxes DET.json`` (COCO detection
results; COCO file names such as ``000000000785.jpg`` give the image id), ``--detector hog`` (OpenCV's people
detector), ``--detector MODEL`` (the padded keypoint boxes of a bottom-up model: a name, checkpoint or .onnx),
or by default the whole image as one box.

Outputs: ``--out DIR`` gets each annotated image as soon as it is done (videos and cameras: ``DIR/<name>_pose.mp4``);
``--json FILE`` gets COCO keypoint results (``pycocotools`` ``loadRes`` reads them), rewritten atomically every
``--flush-every`` frames and at the end, also after Ctrl-C or an error, so finished work is never lost. An
unreadable image inside a folder is reported and skipped (exit status 1 at the end); an unreadable single image,
an empty video or a missing camera is a one-line error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from edgepose.errors import ConfigError, DataError, EdgeposeError

DETECTOR_HELP = "person boxes for top-down models: 'hog', or a bottom-up model (name, checkpoint or .onnx)"


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
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", help="model option override")
    boxes = p.add_mutually_exclusive_group()
    boxes.add_argument("--boxes", metavar="DET.json", help="COCO detection results with person boxes")
    boxes.add_argument("--detector", metavar="hog|MODEL", help=DETECTOR_HELP)
    p.add_argument("--box-threshold", type=float, default=0.3, help="minimum detector/box score (default 0.3)")
    p.add_argument("--out", metavar="DIR", help="write annotated images / videos here")
    p.add_argument("--json", metavar="RESULTS.json", help="write COCO keypoint results here")
    p.add_argument("--smooth", action="store_true", help="track people and One-Euro-smooth keypoints (video)")
    p.add_argument("--threshold", type=float, default=0.3, help="keypoint confidence to draw (default 0.3)")
    p.add_argument("--no-flip-test", dest="flip_test", action="store_false", help="top-down: skip the flip test")
    p.add_argument("--height", type=int, default=None, help="bottom-up inference height (default: the model's, 368)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the network")
    p.add_argument("--device", default="cpu", help="torch device for --weights/--model (default cpu)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames/images")
    p.add_argument("--flush-every", type=int, default=50, help="rewrite --json every N frames (default 50)")
    p.set_defaults(func=run)


# --------------------------------------------------------------------------------------------- builders
def _torch_estimator(args: argparse.Namespace, name: str | None, weights: str | None, **kwargs):
    try:
        import torch
    except ImportError:
        raise EdgeposeError("--weights/--model need PyTorch (pip install 'edgepose[torch]'); use --onnx") from None
    from edgepose.config import parse_overrides
    from edgepose.engine.predict import RANDOM_INIT_WARNING, load_model, torch_estimator

    if args.threads:
        torch.set_num_threads(args.threads)
    model, ckpt = load_model(name, weights, parse_overrides(args.overrides) if name == args.model else None,
                             warn_random=False)  # fmt: skip
    if ckpt is None:
        print(f"edgepose predict: warning: {RANDOM_INIT_WARNING.format(name=name)}", file=sys.stderr)
    return torch_estimator(model, ckpt=ckpt, device=args.device, **kwargs)


def build_estimator(args: argparse.Namespace):
    from edgepose.runtime import PoseEstimator

    kwargs = {"flip_test": args.flip_test, "height": args.height}
    if args.onnx:
        if args.model or args.overrides:
            raise ConfigError("--model/--set do not apply to --onnx (the .onnx file says what it is)")
        return PoseEstimator.from_onnx(args.onnx, threads=args.threads, **kwargs)
    if not (args.weights or args.model):
        raise ConfigError("give a model: --weights CKPT, --onnx MODEL.onnx or --model NAME")
    return _torch_estimator(args, args.model, args.weights, **kwargs)


def build_box_source(args: argparse.Namespace):
    from edgepose.runtime.boxes import DetectionFile, HogDetector, PoseBoxes, WholeImage

    if args.boxes:
        return DetectionFile(args.boxes, min_score=args.box_threshold)
    if not args.detector:
        return WholeImage()
    if args.detector.lower() == "hog":
        return HogDetector(min_score=args.box_threshold)
    if args.detector.endswith(".onnx"):
        from edgepose.runtime import PoseEstimator

        detector = PoseEstimator.from_onnx(args.detector, threads=args.threads, height=args.height)
    elif Path(args.detector).is_file():
        detector = _torch_estimator(args, None, args.detector, height=args.height)
    else:
        detector = _torch_estimator(args, args.detector, None, height=args.height)
    return PoseBoxes(detector, min_score=0.0)


# ---------------------------------------------------------------------------------------------- outputs
def write_json_atomic(path: Path, records: list[dict]) -> None:
    """Write ``records`` to ``path`` atomically (never a half-written file, even on Ctrl-C)."""
    from edgepose.config import atomic_write_text

    atomic_write_text(path, json.dumps(records))


class VideoOut:
    """An mp4 (``mp4v``) writer opened on the first frame, so it knows the size."""

    def __init__(self, path: Path, fps: float) -> None:
        self.path, self.fps, self.writer = path, fps, None

    def write(self, image) -> None:
        import cv2

        if self.writer is None:
            h, w = image.shape[:2]
            self.writer = cv2.VideoWriter(str(self.path), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (w, h))
            if not self.writer.isOpened():
                raise DataError("cannot open video writer (mp4v)", self.path)
        self.writer.write(image)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()


def _write_image(path: Path, image) -> None:
    import cv2

    ok, buf = cv2.imencode(path.suffix if path.suffix.lower() in (".jpg", ".jpeg", ".png", ".bmp") else ".jpg", image)
    if not ok:
        raise DataError("cannot encode the annotated image", path)
    buf.tofile(str(path))


# ------------------------------------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edgepose.runtime import PoseSmoother, open_source
    from edgepose.vis.draw import draw_poses

    if args.flush_every < 1:
        raise ConfigError("--flush-every must be >= 1")
    source = open_source(args.source, max_frames=args.max_frames)  # bad input fails before a model is built
    estimator = build_estimator(args)
    topdown = estimator.task == "topdown"
    if not topdown and (args.boxes or args.detector):
        print("edgepose predict: warning: --boxes/--detector ignored: bottom-up models find people themselves",
              file=sys.stderr)  # fmt: skip
    box_source = build_box_source(args) if topdown else None
    out_dir = Path(args.out) if args.out else None
    if out_dir:
        out_dir.mkdir(parents=True, exist_ok=True)
    json_path = Path(args.json) if args.json else None
    is_stream = source.kind in ("video", "camera")
    video_out = VideoOut(out_dir / f"{source.stem}_pose.mp4", source.fps) if out_dir and is_stream else None
    smoother = PoseSmoother(fps=source.fps or 30.0) if args.smooth else None
    if args.smooth and not is_stream:
        print("edgepose predict: warning: --smooth only applies to videos and cameras", file=sys.stderr)
        smoother = None
    image_ids = source.image_ids() if not is_stream else None
    if args.boxes and image_ids is not None and not any(i in box_source.by_image for i in image_ids):
        print(f"edgepose predict: warning: no image of {args.source} has a box in {args.boxes} "
              "(image ids come from COCO file names like 000000000785.jpg)", file=sys.stderr)  # fmt: skip

    records: list[dict] = []
    skipped: list[str] = []
    done = persons_total = 0
    completed = False
    progress = tqdm(source, total=len(source) or None, unit="frame" if is_stream else "img",
                    disable=source.kind == "image", desc="predict", leave=False)  # fmt: skip
    try:
        for frame in progress:
            if frame.image is None:
                skipped.append(frame.name)
                progress.write(f"edgepose predict: skipped {frame.error}")
                continue
            image_id = frame.index if image_ids is None else image_ids[frame.index]
            if topdown:
                boxes, scores = box_source(frame.image, image_id)
                persons = estimator(frame.image, boxes, scores) if len(boxes) else []
            else:
                persons = estimator(frame.image)
            if smoother is not None:
                persons = smoother(persons)
            records.extend(p.to_coco(image_id, offset=estimator.coco_offset) for p in persons)
            persons_total += len(persons)
            done += 1
            if out_dir:
                canvas = draw_poses(frame.image, persons, skeleton=estimator.draw_skeleton, threshold=args.threshold)
                if video_out:
                    video_out.write(canvas)
                else:
                    _write_image(out_dir / frame.name, canvas)
            if json_path and done % args.flush_every == 0:
                write_json_atomic(json_path, records)
        completed = True
    finally:
        progress.close()
        if video_out:
            video_out.close()
        if json_path and (done or completed):  # never replace an earlier file with nothing after a failure
            write_json_atomic(json_path, records)

    where = [str(p) for p in (out_dir, json_path) if p]
    print(f"{done} {'frames' if is_stream else 'images'}, {persons_total} people"
          + (f"; wrote {', '.join(where)}" if where else ""))  # fmt: skip
    if skipped:
        shown = ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        print(f"edgepose predict: {len(skipped)} of {len(skipped) + done} images could not be read: {shown}",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0
