"""Synthetic-people generator speed: images per second at the default size, 1 and N worker processes.

Usage: python benchmarks/synth_speed.py [--images 400] [--workers 1 2] [--size 320 256]
Prints one line per setting; never part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import cv2

from edgepose.data.synthetic import SynthConfig, generate_dataset, image_rng, render_scene


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--size", type=int, nargs=2, default=(320, 256))
    args = ap.parse_args()
    w, h = args.size
    cfg = SynthConfig(images=args.images, width=w, height=h)
    cv2.setNumThreads(1)
    t0, c0 = time.perf_counter(), time.process_time()
    n = min(args.images, 200)
    for i in range(n):
        scene = render_scene(image_rng(0, i), cfg)
        cv2.imencode(".jpg", scene.image, [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality])
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"render + JPEG in memory, 1 thread: {n / dt:7.1f} images/s wall, {1000 * cpu / n:.2f} ms CPU per image "
          f"({n / cpu:.0f} images/s per free core) at {w}x{h}")
    cv2.setNumThreads(-1)
    for workers in args.workers:
        cfg = SynthConfig(images=args.images, width=w, height=h, workers=workers)
        with tempfile.TemporaryDirectory() as tmp:
            summary = generate_dataset(tmp, cfg)
        print(f"generate_dataset, {workers} process(es):      {summary['images_per_second']:7.1f} images/s "
              f"({args.images} images, {summary['seconds']:.2f} s, JPEG q{cfg.jpeg_quality} + JSON)")


if __name__ == "__main__":
    main()
