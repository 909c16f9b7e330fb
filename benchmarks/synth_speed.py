"""Synthetic-people generator speed: images per second at the default size, 1 and N worker processes.

Usage: python benchmarks/synth_speed.py [--images 400] [--workers 1 2] [--size 320 256]
Prints one line per setting; never part of the test pass/fail.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from edgepose.data.synthetic import SynthConfig, generate_dataset, image_rng, render_scene


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--size", type=int, nargs=2, default=(320, 256))
    args = ap.parse_args()
    w, h = args.size
    cfg = SynthConfig(images=args.images, width=w, height=h)
    t0 = time.perf_counter()
    n = min(args.images, 200)
    for i in range(n):
        render_scene(image_rng(0, i), cfg)
    dt = time.perf_counter() - t0
    print(f"render only (no JPEG, no files), 1 process: {n / dt:7.1f} images/s at {w}x{h}")
    for workers in args.workers:
        cfg = SynthConfig(images=args.images, width=w, height=h, workers=workers)
        with tempfile.TemporaryDirectory() as tmp:
            summary = generate_dataset(tmp, cfg)
        print(f"generate_dataset, {workers} process(es):      {summary['images_per_second']:7.1f} images/s "
              f"({args.images} images, {summary['seconds']:.2f} s, JPEG q{cfg.jpeg_quality} + JSON)")


if __name__ == "__main__":
    main()
