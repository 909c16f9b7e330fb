"""Write the state-dict key lists (name + shape) of the two public GhostNet 1.0× implementations.

Written from the public module structure, *not* from edgepose's modules, so that the tests that read these lists
check edgepose's translation against an independent description:

* official ``huawei-noah/Efficient-AI-Backbones`` ``ghostnet_pytorch/ghostnet.py`` (release file
  ``state_dict_73.98.pth`` / ``ghostnet_1x.pth``): ``conv_stem``, ``bn1``, ``blocks.{group}.{j}.<bottleneck>``
  for nine groups of bottlenecks, ``blocks.9.0`` = ``ConvBnAct(160, 960)`` (``conv``, ``bn1``), ``conv_head``
  (1×1 960→1280 with bias), ``classifier`` (Linear 1280→1000).
* timm ``ghostnet_100`` (``timm/models/ghostnet.py``, weights ``ghostnet_100.in1k``): the same module names; the
  bottleneck's ``conv_dw``/``bn_dw`` are ``None`` (absent from the state dict) at stride 1, the SE is
  ``_efficientnet_blocks.SqueezeExcite`` (``conv_reduce``, ``conv_expand``, rounded with make_divisible(·, 4)),
  the last 1×1 is ``_efficientnet_blocks.ConvBnAct`` (``conv``, ``bn1`` as a BatchNormAct2d: BN keys).

Each bottleneck: ``ghost1``/``ghost2`` = GhostModule (``primary_conv.0`` 1×1 conv, ``primary_conv.1`` BN,
``cheap_operation.0`` dw 3×3 conv on ceil(out/2) maps, ``cheap_operation.1`` BN); ``conv_dw``/``bn_dw`` only
when the stride is 2; ``se.conv_reduce``/``se.conv_expand`` only when the row has SE; ``shortcut.0..3``
(dw k×k, BN, 1×1, BN) only when the shape changes. Run ``python make_ghostnet_keys.py`` to rewrite the lists.
``tests/models/test_ghostnet_reference.py`` checks the written lists against the digest of timm's own
``ghostnet_100`` state dict (taken by running timm) and against the paper's Table 1.
"""

from __future__ import annotations

import math
from pathlib import Path

# (kernel, expansion, out, se_ratio, stride), grouped as in both implementations' ``cfgs``
CFGS = [
    [(3, 16, 16, 0, 1)],
    [(3, 48, 24, 0, 2)],
    [(3, 72, 24, 0, 1)],
    [(5, 72, 40, 0.25, 2)],
    [(5, 120, 40, 0.25, 1)],
    [(3, 240, 80, 0, 2)],
    [(3, 200, 80, 0, 1), (3, 184, 80, 0, 1), (3, 184, 80, 0, 1), (3, 480, 112, 0.25, 1), (3, 672, 112, 0.25, 1)],
    [(5, 672, 160, 0.25, 2)],
    [(5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1), (5, 960, 160, 0, 1), (5, 960, 160, 0.25, 1)],
]


def _div4(v: float) -> int:
    new = max(4, int(v + 2) // 4 * 4)
    return new + 4 if new < 0.9 * v else new


def _bn(prefix: str, c: int, counters: bool) -> list[tuple[str, tuple[int, ...]]]:
    keys = [(f"{prefix}.weight", (c,)), (f"{prefix}.bias", (c,)), (f"{prefix}.running_mean", (c,)),
            (f"{prefix}.running_var", (c,))]  # fmt: skip
    return keys + ([(f"{prefix}.num_batches_tracked", ())] if counters else [])


def _ghost(prefix: str, cin: int, cout: int, counters: bool) -> list[tuple[str, tuple[int, ...]]]:
    init = math.ceil(cout / 2)
    return [
        (f"{prefix}.primary_conv.0.weight", (init, cin, 1, 1)),
        *_bn(f"{prefix}.primary_conv.1", init, counters),
        (f"{prefix}.cheap_operation.0.weight", (init, 1, 3, 3)),
        *_bn(f"{prefix}.cheap_operation.1", init, counters),
    ]


def ghostnet_keys(counters: bool = True) -> list[tuple[str, tuple[int, ...]]]:
    keys = [("conv_stem.weight", (16, 3, 3, 3)), *_bn("bn1", 16, counters)]
    cin = 16
    for g, group in enumerate(CFGS):
        for j, (k, exp, out, se, s) in enumerate(group):
            p = f"blocks.{g}.{j}"
            keys += _ghost(f"{p}.ghost1", cin, exp, counters)
            if s > 1:
                keys += [(f"{p}.conv_dw.weight", (exp, 1, k, k)), *_bn(f"{p}.bn_dw", exp, counters)]
            if se > 0:
                red = _div4(exp * se)
                keys += [
                    (f"{p}.se.conv_reduce.weight", (red, exp, 1, 1)),
                    (f"{p}.se.conv_reduce.bias", (red,)),
                    (f"{p}.se.conv_expand.weight", (exp, red, 1, 1)),
                    (f"{p}.se.conv_expand.bias", (exp,)),
                ]
            keys += _ghost(f"{p}.ghost2", exp, out, counters)
            if not (cin == out and s == 1):
                keys += [(f"{p}.shortcut.0.weight", (cin, 1, k, k)), *_bn(f"{p}.shortcut.1", cin, counters)]
                keys += [(f"{p}.shortcut.2.weight", (out, cin, 1, 1)), *_bn(f"{p}.shortcut.3", out, counters)]
            cin = out
    keys += [("blocks.9.0.conv.weight", (960, 160, 1, 1)), *_bn("blocks.9.0.bn1", 960, counters)]
    keys += [("conv_head.weight", (1280, 960, 1, 1)), ("conv_head.bias", (1280,)),
             ("classifier.weight", (1000, 1280)), ("classifier.bias", (1000,))]  # fmt: skip
    return keys


def write(path: Path, keys: list[tuple[str, tuple[int, ...]]], header: str) -> None:
    lines = [f"# {header}", "# key<TAB>shape (comma-separated; empty for a scalar)"]
    lines += [f"{k}\t{','.join(map(str, s))}" for k, s in keys]
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    here = Path(__file__).parent
    write(here / "ghostnet_official_keys.txt", ghostnet_keys(),
          "official ghostnet_pytorch GhostNet 1.0x (state_dict_73.98.pth), 1000 classes")  # fmt: skip
    write(here / "ghostnet_timm_keys.txt", ghostnet_keys(),
          "timm ghostnet_100 (ghostnet_100.in1k), 1000 classes; same module names as the official code")  # fmt: skip
