"""`edgepose predict`: poses on an image, a folder, a video file or a camera, drawn and/or written as COCO JSON.

    edgepose predict photo.jpg                                  # the shipped model, results in predictions/
    edgepose predict photo.jpg --weights runs/xfuse/best.pt --out out/
    edgepose predict images/ --onnx flpn_sres50.onnx --boxes detections.json --json results.json
    edgepose predict clip.mp4 --onnx xfuse_ghostnet.onnx --smooth --out out/
    edgepose predict 0 --weights flpn.pt --detector xfuse.onnx --show      # camera 0, in a window

The model is one of ``--weights CKPT`` (rebuilds the checkpoint's model), ``--onnx MODEL.onnx`` (the torch-free
runtime: this path never imports torch) or ``--model NAME`` (random weights: only for trying the pipeline);
with none of them, the model shipped inside edgepose (a small top-down LSP-14 model, see
``edgepose/assets/model/MODEL.md``) runs on the torch-free runtime. Bottom-up models need nothing else.
Top-down models need person boxes: ``--boxes DET.json`` (COCO detection results; COCO file names such as
``000000000785.jpg`` give the image id), ``--detector hog`` (OpenCV's people detector), ``--detector MODEL``
(the padded keypoint boxes of a bottom-up model: a name, checkpoint or .onnx), or by default the whole image as
one box. Boxes that cannot hold a person (NaN, inf, empty, outside the image) are dropped and counted; top-down
poses go through OKS-NMS (``--nms-threshold``, 0.7), so overlapping boxes of one person draw one skeleton.

Outputs: ``--out DIR`` gets each annotated image as soon as it is done (videos and cameras: ``DIR/<name>_pose.mp4``
with an FPS overlay); ``--json FILE`` gets COCO keypoint results (``pycocotools`` ``loadRes`` reads them),
rewritten atomically every ``--flush-every`` frames and at the end, also after Ctrl-C or an error, so finished
work is never lost, plus ``FILE`` with ``.meta.json`` naming its keypoint set, names and skeleton. Without
``--out``, ``--json`` and ``--show`` both go to ``predictions/`` (said on stderr). ``--show`` opens a window
(q or Esc stops). The run ends with a timing summary (ms per frame, FPS). An unreadable image inside a folder is
reported and skipped (exit status 1 at the end); an unreadable single image, an empty video, a missing camera or
a bad option is a one-line error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import deque
from pathlib import Path

from edgepose.cli.checks import check_float, check_int, output_dir, output_file
from edgepose.cli.common import add_backend_argument, add_refine_argument, add_set_argument, use_backend
from edgepose.errors import ConfigError, DataError, EdgeposeError

DETECTOR_HELP = "person boxes for top-down models: 'hog', or a bottom-up model (name, checkpoint or .onnx)"
DEFAULT_OUTPUT = Path("predictions")
DEFAULT_NMS = 0.7
WINDOW = "edgepose predict (q or Esc to stop)"


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
    boxes.add_argument("--detector", metavar="hog|MODEL", help=DETECTOR_HELP)
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
    add_backend_argument(p)
    p.add_argument("--height", type=int, default=None, help="bottom-up inference height (default: the model's, 368)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads for the network")
    p.add_argument("--device", default="cpu",
                   help="cpu, or cuda[:N] (PyTorch device for --weights/--model; ONNX Runtime's CUDA provider "
                   "for .onnx models); default cpu")  # fmt: skip
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames/images")
    p.add_argument("--flush-every", type=int, default=50, help="rewrite --json every N frames (default 50)")
    p.set_defaults(func=run)


# ----------------------------------------------------------------------------------------------- checks
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


def onnx_providers(device: str) -> list[str]:
    """ONNX Runtime providers for ``--device``; a GPU that onnxruntime cannot use here is a one-line error."""
    kind = device.split(":")[0].lower()
    if kind == "cpu":
        return ["cpu"]
    from edgepose.runtime.session import PROVIDER_ALIASES, _import_ort

    provider = PROVIDER_ALIASES.get(kind)
    if provider is None:
        raise ConfigError(f"--device {device!r}: unknown device; use cpu or cuda")
    available = _import_ort().get_available_providers()
    if provider not in available:
        raise ConfigError(f"--device {device}: this onnxruntime has no {provider} (it has {', '.join(available)}); "
                          "use --device cpu or install onnxruntime-gpu")  # fmt: skip
    return [kind, "cpu"]


def torch_device(device: str):
    """The PyTorch device of ``--device``; CUDA without a usable GPU is a one-line error, not a traceback."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError):
        raise ConfigError(f"--device {device!r} is not a PyTorch device (cpu, cuda, cuda:1, ...)") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"--device {device}: PyTorch sees no CUDA GPU here; use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) here")
    return dev


# --------------------------------------------------------------------------------------------- builders
def _torch_estimator(args: argparse.Namespace, name: str | None, weights: str | None, **kwargs):
    try:
        import torch
    except ImportError:
        raise EdgeposeError("--weights/--model need PyTorch (pip install 'edgepose[torch]'); use --onnx") from None
    from edgepose.config import parse_overrides
    from edgepose.engine.predict import RANDOM_INIT_WARNING, load_model, torch_estimator

    device = torch_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    model, ckpt = load_model(name, weights, parse_overrides(args.overrides) if name == args.model else None,
                             warn_random=False)  # fmt: skip
    if ckpt is None:
        print(f"edgepose predict: warning: {RANDOM_INIT_WARNING.format(name=name)}", file=sys.stderr)
    return torch_estimator(model, ckpt=ckpt, device=device, **kwargs)


def build_estimator(args: argparse.Namespace):
    """The pose model of ``--weights``/``--onnx``/``--model``, else the shipped one (torch-free runtime)."""
    from edgepose.runtime import PoseEstimator

    kwargs = {"flip_test": args.flip_test, "height": args.height, "refine": args.refine,
              "nms_threshold": args.nms_threshold if args.nms else None}  # fmt: skip
    if args.onnx:
        return PoseEstimator.from_onnx(args.onnx, threads=args.threads, providers=onnx_providers(args.device),
                                       **kwargs)  # fmt: skip
    if not (args.weights or args.model):
        from edgepose import assets

        path = assets.shipped_onnx()  # a one-line EdgeposeError when an install left it out
        estimator = PoseEstimator.from_onnx(path, threads=args.threads, providers=onnx_providers(args.device),
                                            **kwargs)  # fmt: skip
        info = estimator.info
        print(f"edgepose predict: using the shipped model ({info.model_name}, {info.task}, {info.keypoints} "
              "keypoints; --weights/--onnx choose another)", file=sys.stderr)  # fmt: skip
        return estimator
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

        detector = PoseEstimator.from_onnx(args.detector, threads=args.threads, height=args.height,
                                           providers=onnx_providers(args.device))  # fmt: skip
    elif Path(args.detector).is_file():
        detector = _torch_estimator(args, None, args.detector, height=args.height)
    else:
        detector = _torch_estimator(args, args.detector, None, height=args.height)
    return PoseBoxes(detector, min_score=0.0)


# ---------------------------------------------------------------------------------------------- outputs
def write_json_atomic(path: Path, records: list[dict] | dict) -> None:
    """Write ``records`` to ``path`` atomically (never a half-written file, even on Ctrl-C)."""
    from edgepose.config import atomic_write_text

    try:
        atomic_write_text(path, json.dumps(records))
    except OSError as exc:
        raise DataError(f"cannot write the results ({exc.strerror or exc})", path) from None


def meta_path(json_path: Path) -> Path:
    """``results.json`` -> ``results.meta.json``: the sidecar saying what the results' keypoints are."""
    return json_path.with_name(f"{json_path.stem if json_path.suffix == '.json' else json_path.name}.meta.json")


def results_meta(estimator, source: str) -> dict:
    """What a COCO results list cannot say itself: the keypoint set of its ``keypoints`` triplets, their names,
    the skeleton and the model. COCO results files must stay plain lists for ``pycocotools`` ``loadRes``."""
    from edgepose.keypoints import get_keypoint_spec

    spec = get_keypoint_spec("coco" if estimator.task == "bottomup" else estimator.info.keypoints)
    return {
        "keypoints": spec.name,
        "keypoint_names": list(spec.names),
        "skeleton": [list(link) for link in spec.skeleton],
        "model": estimator.info.model_name,
        "task": estimator.task,
        "coco_offset": estimator.coco_offset,
        "source": str(source),
        "format": "COCO keypoint results: [{image_id, category_id, keypoints: [x, y, confidence] * K, score, bbox}]",
    }


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
    try:
        buf.tofile(str(path))
    except OSError as exc:
        raise DataError(f"cannot write the annotated image ({exc.strerror or exc})", path) from None


def draw_fps(canvas, fps: float) -> None:
    """``"12.3 FPS"`` in the top-left corner, white on a dark box (readable on any frame)."""
    import cv2

    text = f"{fps:.1f} FPS"
    scale = max(0.5, canvas.shape[0] / 720)
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 2)
    cv2.rectangle(canvas, (4, 4), (12 + tw, 12 + th + base), (0, 0, 0), -1)
    cv2.putText(canvas, text, (8, 8 + th), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 2, cv2.LINE_AA)


class Display:
    """``--show``: an OpenCV window. Without a display, or with OpenCV built without GUI support
    (opencv-python-headless), a one-line error before any work, instead of a crash on the first frame."""

    def __init__(self) -> None:
        import cv2

        self.cv2 = cv2
        if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
            raise ConfigError("--show needs a display and this session has none ($DISPLAY is not set); "
                              "use --out DIR to write the drawings instead")  # fmt: skip
        try:
            cv2.namedWindow(WINDOW, cv2.WINDOW_NORMAL)
        except cv2.error:
            raise ConfigError("--show needs OpenCV with GUI support (this one has none, e.g. "
                              "opencv-python-headless); use --out DIR instead") from None  # fmt: skip

    def show(self, image, wait_ms: int) -> bool:
        """Show ``image``; False when the user pressed q or Esc (stop)."""
        self.cv2.imshow(WINDOW, image)
        return (self.cv2.waitKey(wait_ms) & 0xFF) not in (ord("q"), 27)

    def close(self) -> None:
        try:
            self.cv2.destroyWindow(WINDOW)
        except self.cv2.error:  # pragma: no cover - the user closed it already
            pass


def _default_stem(source: str) -> str:
    text = source.rstrip("/\\")
    if text.isdigit() and not Path(text).exists():
        return f"camera{text}"
    return Path(text).stem or "results"


# ------------------------------------------------------------------------------------------------- run
def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from edgepose.runtime import PoseSmoother, open_source
    from edgepose.runtime.boxes import describe_box_counts
    from edgepose.vis.draw import draw_poses

    check_options(args)
    use_backend(args)
    out_dir = output_dir(args.out, "--out", create=False) if args.out else None
    json_path = output_file(args.json, "--json") if args.json else None
    source = open_source(args.source, max_frames=args.max_frames)  # bad input fails before a model is built
    estimator = build_estimator(args)
    topdown = estimator.task == "topdown"
    if not topdown and (args.boxes or args.detector):
        option = "--boxes" if args.boxes else "--detector"
        raise ConfigError(f"{option} applies to top-down models; {estimator.info.model_name} is bottom-up and finds "
                          f"people itself (drop {option})")  # fmt: skip
    box_source = build_box_source(args) if topdown else None
    if not (out_dir or json_path or args.show):
        out_dir = output_dir(DEFAULT_OUTPUT, "default output folder", create=False)
        json_path = output_file(DEFAULT_OUTPUT / f"{_default_stem(args.source)}.json", "default results file")
        print(f"edgepose predict: no --out/--json/--show given: writing drawings and results to {out_dir}/",
              file=sys.stderr)  # fmt: skip
    display = Display() if args.show else None
    if out_dir:
        output_dir(out_dir, "--out")
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
    if json_path:
        write_json_atomic(meta_path(json_path), results_meta(estimator, args.source))

    records: list[dict] = []
    skipped: list[str] = []
    done = persons_total = 0
    infer_s = 0.0
    recent: deque[float] = deque(maxlen=30)  # the FPS overlay: mean over the last 30 frames
    completed = False
    t_start = time.perf_counter()
    progress = tqdm(source, total=len(source) or None, unit="frame" if is_stream else "img",
                    disable=source.kind == "image", desc="predict", leave=False)  # fmt: skip
    try:
        for frame in progress:
            if frame.image is None:
                skipped.append(frame.name)
                progress.write(f"edgepose predict: skipped {frame.error}")
                continue
            image_id = frame.index if image_ids is None else image_ids[frame.index]
            t0 = time.perf_counter()
            if topdown:
                boxes, scores = box_source(frame.image, image_id)
                persons = estimator(frame.image, boxes, scores) if len(boxes) else []
            else:
                persons = estimator(frame.image)
            if smoother is not None:
                persons = smoother(persons)
            dt = time.perf_counter() - t0
            infer_s += dt
            recent.append(dt)
            records.extend(p.to_coco(image_id, offset=estimator.coco_offset) for p in persons)
            persons_total += len(persons)
            done += 1
            if out_dir or display:
                canvas = draw_poses(frame.image, persons, skeleton=estimator.draw_skeleton, threshold=args.threshold)
                if is_stream:
                    draw_fps(canvas, len(recent) / max(sum(recent), 1e-9))
                if video_out:
                    video_out.write(canvas)
                elif out_dir:
                    _write_image(out_dir / frame.name, canvas)
                if display and not display.show(canvas, 1 if is_stream else 0):
                    break
            if json_path and done % args.flush_every == 0:
                write_json_atomic(json_path, records)
        completed = True
    finally:
        progress.close()
        if video_out:
            video_out.close()
        if display:
            display.close()
        if json_path and (done or completed):  # never replace an earlier file with nothing after a failure
            write_json_atomic(json_path, records)

    wall = time.perf_counter() - t_start
    unit = "frames" if is_stream else "images"
    where = [str(p) for p in (out_dir, json_path) if p]
    print(f"{done} {unit}, {persons_total} people" + (f"; wrote {', '.join(where)}" if where else ""))
    if done:
        print(f"time: {1000 * infer_s / done:.1f} ms per {unit[:-1]} for the model ({done / max(infer_s, 1e-9):.1f} "
              f"FPS), {wall:.2f} s in all with reading and writing ({done / max(wall, 1e-9):.1f} FPS)")  # fmt: skip
    if json_path:
        print(f"keypoints: {results_meta(estimator, args.source)['keypoints']} (see {meta_path(json_path)})")
    if topdown and estimator.box_counts:
        print(f"edgepose predict: warning: {describe_box_counts(estimator.box_counts)}", file=sys.stderr)
    if skipped:
        shown = ", ".join(skipped[:5]) + (", ..." if len(skipped) > 5 else "")
        print(f"edgepose predict: {len(skipped)} of {len(skipped) + done} images could not be read: {shown}",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0
