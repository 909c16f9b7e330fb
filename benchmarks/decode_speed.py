"""Bottom-up post-processing speed (upsampling + peaks + grouping) on rendered maps of synthetic crowds.

Prints one row per person count: mean/median milliseconds per image and the mean of each stage, for the default
decoder at x8 and x4 upsampling and for the LWOP-faithful preset. Wall-clock times: run on an idle machine
(``taskset -c 0,1`` pins the two cores of the target device class). Never part of the test pass/fail.

    python benchmarks/decode_speed.py                    # 1, 5, 10, 20 people at height 368, 20 repeats
    python benchmarks/decode_speed.py --people 20 40 --repeats 50 --json
"""

from __future__ import annotations

import argparse
import json
import time

from edgepose.analysis.decode_speed import benchmark_decode, format_table
from edgepose.codecs.paf import PafCodec


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--people", type=int, nargs="+", default=[1, 5, 10, 20])
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--height", type=int, default=368)
    p.add_argument("--threads", type=int, default=2, help="OpenCV threads (default 2)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = p.parse_args()
    variants = {
        "default x8": PafCodec(upsample=8),
        "default x4": PafCodec(upsample=4),
        "lwop-preset x8": PafCodec.lwop(upsample=8),
    }
    out = {}
    for name, codec in variants.items():
        t0 = time.process_time()
        rows = benchmark_decode(tuple(args.people), args.repeats, args.height, codec=codec, threads=args.threads)
        out[name] = rows
        if not args.json:
            print(f"\n{name} (height {args.height}, {args.repeats} scenes per count, "
                  f"process CPU {time.process_time() - t0:.1f} s)")  # fmt: skip
            print(format_table(rows))
    if args.json:
        print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
