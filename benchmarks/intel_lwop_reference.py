"""An independent second decoding of Intel's Lightweight OpenPose, side by side with edgepose's, on COCO AP.

    .venv/bin/python benchmarks/intel_lwop_reference.py [--height 368] [--max-images N] [--out FILE.json]

Three ways to the same 98 COCO val2017 mini images, each scored with pycocotools:

``reference``       the ORIGINAL IR (``human-pose-estimation-0001.FP16-INT8.xml``, int8 activations included) run by
                    OpenVINO, decoded below the way the Lightweight OpenPose demo decodes: whole image resized to
                    ``--height``, padded *centred* to a multiple of 8 (and at least as wide as high) with the
                    normalised value 0 (pixel 128), maps upsampled x4 (cubic), peaks = 4-neighbour maxima above 0.1
                    with a 6-pixel suppression in x order, limbs scored on 10 samples of the upsampled PAFs (a
                    sample counts above 0.05; a limb needs > 80 % of them and a positive mean), greedy one-to-one
                    matching per limb, people grown limb by limb in the table's order (the two shoulder-ear links
                    only fill ears), people with < 3 keypoints or mean score < 0.2 dropped; COCO score = sum of
                    scores x (keypoints - 1), keypoints + 0.5. Nothing of edgepose's decoder is used.
``edgepose_ir``     the same IR's maps through edgepose's estimator and decoder (``PoseEstimator`` with a network
                    callable that runs the IR): isolates the decoder.
``edgepose_torch``  the imported float model (``edgepose import``) through ``edgepose coco``'s code path: what
                    users run (``--weights``).

Per-image AP of each way is saved too, so a gap can be traced to the images it comes from. The output JSON
(``benchmarks/results/intel_lwop_reference_<date>.json`` by default) holds the figures, the per-image APs, the
date, machine and load.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "coco_val2017_mini"
XML = REPO.parent / "shared" / "weights" / "human-pose-estimation-0001.FP16-INT8.xml"

# The demo's tables, in the IR's own channel numbering: limb (keypoint a, keypoint b) and its PAF channels (x, y).
LIMB_KEYPOINTS = [(1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
                  (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17), (2, 16), (5, 17)]  # fmt: skip
LIMB_PAFS = [(12, 13), (20, 21), (14, 15), (16, 17), (22, 23), (24, 25), (0, 1), (2, 3), (4, 5), (6, 7), (8, 9),
             (10, 11), (28, 29), (30, 31), (34, 35), (32, 33), (36, 37), (18, 19), (26, 27)]  # fmt: skip
EAR_LINKS = (17, 18)  # limbs that only complete people, never start or grow them
OPENPOSE_TO_COCO17 = [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]  # COCO keypoint k = OpenPose index
STRIDE, UPSAMPLE = 8, 4
WAYS = ("reference", "edgepose_ir", "edgepose_torch")


# --------------------------------------------------------------------------------------------- the IR
class IrNetwork:
    """The original IR, compiled once with dynamic spatial axes; pixels in, (heatmaps, PAFs) out."""

    def __init__(self, xml: Path) -> None:
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(xml))
        model.reshape({model.inputs[0].get_any_name(): [1, 3, -1, -1]})
        self.compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": 2})
        self.heat = next(o for o in self.compiled.outputs if o.get_partial_shape()[1].get_length() == 19)
        self.paf = next(o for o in self.compiled.outputs if o.get_partial_shape()[1].get_length() == 38)

    def __call__(self, pixels_nchw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self.compiled([np.ascontiguousarray(pixels_nchw, dtype=np.float32)])
        return out[self.heat][0], out[self.paf][0]


# ------------------------------------------------------------------------------- the demo's decoding
def demo_input(image: np.ndarray, height: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Resize to ``height`` and pad centred to multiples of the stride (width >= height) with pixel 128."""
    scale = height / image.shape[0]
    resized = cv2.resize(image, (0, 0), fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    h, w = resized.shape[:2]
    want_h = math.ceil(height / STRIDE) * STRIDE
    want_w = math.ceil(max(w, height) / STRIDE) * STRIDE
    top, left = (want_h - h) // 2, (want_w - w) // 2
    padded = cv2.copyMakeBorder(resized, top, want_h - h - top, left, want_w - w - left, cv2.BORDER_CONSTANT,
                                value=(128, 128, 128))  # fmt: skip
    return padded.astype(np.float32).transpose(2, 0, 1)[None], scale, (top, left)


def find_peaks(heat: np.ndarray, first_id: int, threshold: float = 0.1, radius: float = 6.0) -> np.ndarray:
    """``(n, 4)`` rows (x, y, score, global id) of one upsampled heatmap's peaks."""
    p = np.pad(heat, 2)
    centre = p[1:-1, 1:-1]
    is_peak = (centre > p[1:-1, :-2]) & (centre > p[1:-1, 2:]) & (centre > p[:-2, 1:-1]) & (centre > p[2:, 1:-1])
    is_peak &= centre > threshold
    ys, xs = np.nonzero(is_peak[1:-1, 1:-1])
    order = np.argsort(xs, kind="stable")
    kept: list[tuple[int, int]] = []
    for x, y in zip(xs[order], ys[order]):
        if all((x - kx) ** 2 + (y - ky) ** 2 >= radius**2 for kx, ky in kept):
            kept.append((int(x), int(y)))
    rows = [(x, y, float(heat[y, x]), first_id + i) for i, (x, y) in enumerate(kept)]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 4)


def limb_candidates(a: np.ndarray, b: np.ndarray, paf: np.ndarray, samples: int = 10, min_score: float = 0.05):
    """``[(index in a, index in b, score)]`` of the limbs a -> b the PAF supports, one-to-one, best first."""
    found = []
    h, w = paf.shape[:2]
    for i, pa in enumerate(a):
        for j, pb in enumerate(b):
            d = pb[:2] - pa[:2]
            t = np.linspace(0.0, 1.0, samples)[:, None]
            pts = np.rint(pa[:2] + t * d).astype(np.int64)
            xs, ys = np.clip(pts[:, 0], 0, w - 1), np.clip(pts[:, 1], 0, h - 1)
            unit = d / (np.linalg.norm(d) + 1e-6)
            dots = paf[ys, xs] @ unit
            good = dots > min_score
            mean = float((dots * good).sum() / (good.sum() + 1e-6))
            if mean > 0 and good.sum() / samples > 0.8:
                found.append((i, j, mean))
    found.sort(key=lambda c: -c[2])
    used_a, used_b, out = set(), set(), []
    for i, j, s in found:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            out.append((i, j, s))
    return out


def group(peaks: list[np.ndarray], paf_up: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """People as 20-entry rows (18 keypoint ids or -1, score sum, keypoint count) and the table of all peaks."""
    table = np.concatenate(peaks) if any(len(p) for p in peaks) else np.zeros((0, 4))
    people: list[np.ndarray] = []
    for limb, ((ka, kb), (cx, cy)) in enumerate(zip(LIMB_KEYPOINTS, LIMB_PAFS)):
        a, b = peaks[ka], peaks[kb]
        if not len(a) or not len(b):
            continue
        conns = [(int(a[i, 3]), int(b[j, 3]), s) for i, j, s in limb_candidates(a, b, paf_up[:, :, [cx, cy]])]
        if not conns:
            continue
        if limb in EAR_LINKS:
            for ia, ib, _ in conns:
                for person in people:
                    if person[ka] == ia and person[kb] == -1:
                        person[kb] = ib
                    elif person[kb] == ib and person[ka] == -1:
                        person[ka] = ia
            continue
        for ia, ib, s in conns:
            grown = False
            if limb > 0:
                for person in people:
                    if person[ka] == ia:
                        person[kb] = ib
                        person[-1] += 1
                        person[-2] += table[ib, 2] + s
                        grown = True
            if not grown:
                person = -np.ones(20)
                person[ka], person[kb] = ia, ib
                person[-1] = 2
                person[-2] = table[ia, 2] + table[ib, 2] + s
                people.append(person)
    kept = [p for p in people if p[-1] >= 3 and p[-2] / p[-1] >= 0.2]
    return kept, table


def reference_records(net: IrNetwork, image: np.ndarray, image_id: int, height: int) -> list[dict]:
    batch, scale, (top, left) = demo_input(image, height)
    heat, paf = net(batch)
    heat_up = cv2.resize(heat.transpose(1, 2, 0), (0, 0), fx=UPSAMPLE, fy=UPSAMPLE, interpolation=cv2.INTER_CUBIC)
    paf_up = cv2.resize(paf.transpose(1, 2, 0), (0, 0), fx=UPSAMPLE, fy=UPSAMPLE, interpolation=cv2.INTER_CUBIC)
    peaks, next_id = [], 0
    for k in range(18):
        p = find_peaks(heat_up[:, :, k], next_id)
        next_id += len(p)
        peaks.append(p)
    people, table = group(peaks, paf_up)
    records = []
    for person in people:
        kp = np.zeros((17, 3))
        for c, o in enumerate(OPENPOSE_TO_COCO17):
            if person[o] >= 0:
                x, y = table[int(person[o]), :2]
                kp[c] = ((x * STRIDE / UPSAMPLE - left) / scale + 0.5, (y * STRIDE / UPSAMPLE - top) / scale + 0.5, 1)
        score = float(person[-2] * max(0.0, person[-1] - 1))
        records.append({"image_id": image_id, "category_id": 1, "keypoints": kp.reshape(-1).round(3).tolist(),
                        "score": score})  # fmt: skip
    return records


# ------------------------------------------------------------------------------------ edgepose's side
def edgepose_ir_estimator(net: IrNetwork, height: int, decoder: str = "default"):
    """edgepose's estimator and decoder over the IR: normalised input back to pixels, PAFs to edgepose's order.
    ``decoder="lwop"``: edgepose's ``PafCodec.lwop()`` preset (LWOP's decoding in edgepose's code) at x4."""
    from edgepose.codecs.paf import PafCodec
    from edgepose.meta import ModelInfo
    from edgepose.models.importers.openvino_ir import paf_permutation
    from edgepose.runtime import PoseEstimator

    perm = paf_permutation()

    def network(batch: np.ndarray) -> dict[str, np.ndarray]:
        heat, paf = net(batch * 256.0 + 128.0)
        return {"heatmaps": heat[None], "pafs": paf[perm][None]}

    info = ModelInfo(model_name="human-pose-estimation-0001 (IR)", task="bottomup", input_size=(height, height),
                     normalisation="openpose", stride=STRIDE, keypoints="openpose18", codec="paf",
                     outputs=("heatmaps", "pafs"))  # fmt: skip
    codec = PafCodec.lwop(upsample=UPSAMPLE) if decoder == "lwop" else None
    return PoseEstimator(network, info, height=height, codec=codec)


def edgepose_torch_estimator(height: int):
    import tempfile

    from edgepose.engine.predict import checkpoint_estimator
    from edgepose.models.importers import import_file
    from edgepose.models.importers.checkpoint import save_imported

    ckpt = Path(tempfile.mkdtemp()) / "intel_lwop.pt"
    save_imported(import_file(XML), ckpt)
    return checkpoint_estimator(ckpt, height=height, batch_size=1)[0]


# ------------------------------------------------------------------------------------------- scoring
def coco_eval(ann: dict, records: list[dict], image_ids: list[int]) -> tuple[dict, dict[int, float]]:
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    names = ("AP", "AP50", "AP75", "APm", "APl", "AR")
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = ann
        gt.createIndex()
        if not records:
            return dict.fromkeys(names, 0.0), dict.fromkeys(image_ids, 0.0)
        dt_ = gt.loadRes(records)
        ev = COCOeval(gt, dt_, "keypoints")
        ev.params.imgIds = image_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        overall = dict(zip(names, [float(ev.stats[i]) for i in (0, 1, 2, 3, 4, 5)]))
        per_image = {}
        for i in image_ids:
            if not gt.getAnnIds(imgIds=[i], iscrowd=False):
                continue
            e = COCOeval(gt, dt_, "keypoints")
            e.params.imgIds = [i]
            e.evaluate()
            e.accumulate()
            e.summarize()
            per_image[i] = float(max(e.stats[0], 0.0))  # -1 (no labelled keypoints) counts as 0
    return overall, per_image


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ann", default=str(DATA / "annotations" / "person_keypoints_val2017_mini.json"))
    parser.add_argument("--images", default=str(DATA / "images" / "val2017"))
    parser.add_argument("--height", type=int, default=368)
    parser.add_argument("--max-images", type=int, default=None)
    parser.add_argument("--ways", default=",".join(WAYS), help=f"comma-separated subset of {', '.join(WAYS)}")
    parser.add_argument("--edgepose-decoder", choices=("default", "lwop"), default="default",
                        help="edgepose_ir's decoder: the predictor's default or PafCodec.lwop()")  # fmt: skip
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    ways_wanted = [w.strip() for w in args.ways.split(",") if w.strip()]
    if not ways_wanted or any(w not in WAYS for w in ways_wanted):
        parser.error(f"--ways: choose among {', '.join(WAYS)}")
    sys.path.insert(0, str(REPO))
    from edgepose.evaluation.coco_folder import read_image
    from edgepose.evaluation.oracle_bottomup import poses_to_records

    start, load_before, t0 = dt.datetime.now(dt.timezone.utc), os.getloadavg(), time.time()
    ann = json.loads(Path(args.ann).read_text())
    ann.setdefault("categories", [{"id": 1, "name": "person"}])
    image_ids = [im["id"] for im in ann["images"]][: args.max_images]
    files = {im["id"]: im["file_name"] for im in ann["images"]}
    net = IrNetwork(XML)
    ways: dict[str, list[dict]] = {w: [] for w in ways_wanted}
    estimators = {"edgepose_ir": lambda: edgepose_ir_estimator(net, args.height, args.edgepose_decoder),
                  "edgepose_torch": lambda: edgepose_torch_estimator(args.height)}  # fmt: skip
    ep = {w: make() for w, make in estimators.items() if w in ways}
    for n, image_id in enumerate(image_ids):
        image = read_image(Path(args.images) / files[image_id])
        if "reference" in ways:
            ways["reference"] += reference_records(net, image, image_id, args.height)
        for w, est in ep.items():
            ways[w] += poses_to_records(image_id, est.bottomup_poses(image), est.codec)
        print(f"\r{n + 1}/{len(image_ids)}", end="", file=sys.stderr)
    print(file=sys.stderr)
    figures, per_image = {}, {}
    for way, records in ways.items():
        figures[way], per_image[way] = coco_eval(ann, records, image_ids)
    print(f"{'':16s}" + "".join(f"{k:>7s}" for k in next(iter(figures.values()))))
    for way, fig in figures.items():
        print(f"{way:16s}" + "".join(f"{v:7.3f}" for v in fig.values()))
    if "reference" in per_image and len(per_image) > 1:
        other = next(w for w in per_image if w != "reference")
        diffs = sorted((per_image[other][i] - per_image["reference"][i], i) for i in per_image["reference"])
        print(f"largest per-image AP differences ({other} - reference):",
              ", ".join(f"{i}: {d:+.2f}" for d, i in diffs[:5] + diffs[-5:]))  # fmt: skip
    tag = f"h{args.height}" + ("_lwop" if args.edgepose_decoder == "lwop" else "")
    out = Path(args.out or REPO / "benchmarks" / "results" / f"intel_lwop_reference_{tag}_{start:%Y-%m-%d}.json")
    out.write_text(json.dumps({
        "command": " ".join(["python", "benchmarks/intel_lwop_reference.py", *sys.argv[1:]]),
        "date_utc_start": start.isoformat(timespec="seconds"),
        "date_utc_end": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(), "cpu_count": os.cpu_count(), "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(), "wall_s": round(time.time() - t0, 1),
        "height": args.height, "edgepose_decoder": args.edgepose_decoder, "images": len(image_ids), "figures": figures,
        "per_image_AP": {way: {str(k): round(v, 4) for k, v in d.items()} for way, d in per_image.items()},
        "records": {way: len(r) for way, r in ways.items()},
    }, indent=1))  # fmt: skip
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
