"""GhostNet 1.0× against references from outside the project, not against edgepose's builder or the project's
own key-list script (``tests/models/data/make_ghostnet_keys.py``).

1. **The public implementation, run**: the pinned key lists (``tests/models/data/ghostnet_{official,timm}_keys.txt``)
   must hash to the state dict of timm's ``ghostnet_100``, whose pretrained config is Huawei's release file
   ``ghostnet_1x.pth`` loaded strictly (so its key names are the official ones as well). The digest, count and
   parameter total below were taken by running timm 1.0.31 (``timm.create_model("ghostnet_100").state_dict()``,
   code as in huggingface/pytorch-image-models ``timm/models/ghostnet.py``); timm is not a dependency here, so
   the figures are pinned, not recomputed.
2. **The paper's Table 1, written out below**: every tensor's name and shape rebuilt from the table's widths,
   expansion sizes, SE flags and strides and the published block design, compared with the key lists and with
   edgepose's :class:`GhostNetBackbone` (through its official naming), stage by stage.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest
import torch

from edgepose.models.backbones.ghostnet import GhostNetBackbone, ours_to_official

DATA = Path(__file__).parent / "data"

# timm 1.0.31, ghostnet_100 (1000 classes): sha256 of its state dict as "key<TAB>shape" lines (shape comma-separated,
# empty for the BN counters) joined by "\n"; 512 entries; sum(p.numel() for p in model.parameters()) = 5,182,508
# (the paper, Table 7: 5.2M parameters for GhostNet 1.0×).
TIMM_DIGEST = "f1edda9bf7d60f498e9d24edb97340852471afe6df39e14defdff8021d955d33"
TIMM_ENTRIES, TIMM_PARAMETERS = 512, 5_182_508

# Han et al., "GhostNet: More Features from Cheap Operations", CVPR 2020 (arXiv:1911.11907), Table 1: the
# G-bneck rows as (#exp, #out, SE, stride), top to bottom, grouped into the five stages of the official code's
# cfgs comments (stage 1 at 112², 2 at 56², 3 at 28², 4 at 14², 5 at 7² input).
TABLE_1 = {
    1: [(16, 16, 0, 1)],
    2: [(48, 24, 0, 2), (72, 24, 0, 1)],
    3: [(72, 40, 1, 2), (120, 40, 1, 1)],
    4: [(240, 80, 0, 2), (200, 80, 0, 1), (184, 80, 0, 1), (184, 80, 0, 1), (480, 112, 1, 1), (672, 112, 1, 1)],
    5: [(672, 160, 1, 2), (960, 160, 0, 1), (960, 160, 1, 1), (960, 160, 0, 1), (960, 160, 1, 1)],
}
STEM, LAST_CONV, HEAD, CLASSES = 16, 960, 1280, 1000  # Table 1: Conv2d 3×3 → 16, Conv2d 1×1 → 960, → 1280, FC
# The table has no kernel column: the depth-wise kernel is 5 in stages 3 and 5, else 3 (official cfgs' k).
KERNEL = {1: 3, 2: 3, 3: 5, 4: 3, 5: 5}
# The official cfgs group the rows into nine Sequentials ("blocks.{g}.{j}"): stage 1, then for stages 2-5 the
# first row alone and the rest of the stage together (1, 1, 5 and 4 rows).
GROUPS = [[(1, 0)], [(2, 0)], [(2, 1)], [(3, 0)], [(3, 1)], [(4, 0)], [(4, i) for i in range(1, 6)], [(5, 0)],
          [(5, i) for i in range(1, 5)]]  # fmt: skip


def _bn(name: str, c: int) -> dict[str, tuple[int, ...]]:
    stats = {"weight": (c,), "bias": (c,), "running_mean": (c,), "running_var": (c,), "num_batches_tracked": ()}
    return {f"{name}.{k}": v for k, v in stats.items()}


def _ghost_module(name: str, cin: int, cout: int) -> dict[str, tuple[int, ...]]:
    """Ghost module, paper §3.1 with s = 2, d = 3: a 1×1 conv to m = ⌈out / 2⌉ intrinsic maps, then a 3×3
    depth-wise "cheap operation" making m ghost maps, each conv followed by BN."""
    m = math.ceil(cout / 2)
    return {f"{name}.primary_conv.0.weight": (m, cin, 1, 1), **_bn(f"{name}.primary_conv.1", m),
            f"{name}.cheap_operation.0.weight": (m, 1, 3, 3), **_bn(f"{name}.cheap_operation.1", m)}  # fmt: skip


def _se_width(channels: int) -> int:
    """SE reduction: a quarter of the channels rounded to a multiple of 4, not more than 10% below."""
    quarter = channels / 4
    r = max(4, int(quarter + 2) // 4 * 4)
    return r + 4 if r < 0.9 * quarter else r


def _bottleneck(name: str, cin: int, exp: int, out: int, se: int, stride: int, k: int) -> dict[str, tuple[int, ...]]:
    """G-bneck (paper Fig. 3): ghost(in→exp); a k×k depth-wise conv + BN only at stride 2; SE; ghost(exp→out);
    the shortcut is a k×k depth-wise conv + BN + 1×1 conv + BN where the shape changes."""
    keys = _ghost_module(f"{name}.ghost1", cin, exp)
    if stride == 2:
        keys |= {f"{name}.conv_dw.weight": (exp, 1, k, k), **_bn(f"{name}.bn_dw", exp)}
    if se:
        r = _se_width(exp)
        keys |= {f"{name}.se.conv_reduce.weight": (r, exp, 1, 1), f"{name}.se.conv_reduce.bias": (r,),
                 f"{name}.se.conv_expand.weight": (exp, r, 1, 1), f"{name}.se.conv_expand.bias": (exp,)}  # fmt: skip
    keys |= _ghost_module(f"{name}.ghost2", exp, out)
    if stride != 1 or cin != out:
        keys |= {f"{name}.shortcut.0.weight": (cin, 1, k, k), **_bn(f"{name}.shortcut.1", cin),
                 f"{name}.shortcut.2.weight": (out, cin, 1, 1), **_bn(f"{name}.shortcut.3", out)}  # fmt: skip
    return keys


def table_1_state_dict() -> tuple[dict[str, tuple[int, ...]], dict[str, int]]:
    """Official key -> shape for the whole 1000-class network, and key -> the stage it belongs to
    (0: stem, 6: the final 1×1 conv, 7: head and classifier)."""
    shapes = {"conv_stem.weight": (STEM, 3, 3, 3), **_bn("bn1", STEM)}
    stage_of = dict.fromkeys(shapes, 0)
    cin = STEM
    for g, rows in enumerate(GROUPS):
        for j, (stage, i) in enumerate(rows):
            exp, out, se, stride = TABLE_1[stage][i]
            block = _bottleneck(f"blocks.{g}.{j}", cin, exp, out, se, stride, KERNEL[stage])
            shapes |= block
            stage_of |= dict.fromkeys(block, stage)
            cin = out
    tail = {"blocks.9.0.conv.weight": (LAST_CONV, cin, 1, 1), **_bn("blocks.9.0.bn1", LAST_CONV)}
    head = {"conv_head.weight": (HEAD, LAST_CONV, 1, 1), "conv_head.bias": (HEAD,),
            "classifier.weight": (CLASSES, HEAD), "classifier.bias": (CLASSES,)}  # fmt: skip
    return shapes | tail | head, stage_of | dict.fromkeys(tail, 6) | dict.fromkeys(head, 7)


def _learned(key: str) -> bool:
    return not key.endswith(("running_mean", "running_var", "num_batches_tracked"))


def _per_stage(shapes: dict[str, tuple[int, ...]], stage_of: dict[str, int]) -> dict[int, int]:
    counts: dict[int, int] = {}
    for key, shape in shapes.items():
        if _learned(key):
            counts[stage_of[key]] = counts.get(stage_of[key], 0) + math.prod(shape)
    return counts


def _key_file(layout: str) -> list[str]:
    return [line for line in (DATA / f"ghostnet_{layout}_keys.txt").read_text().splitlines()
            if line and not line.startswith("#")]  # fmt: skip


@pytest.mark.parametrize("layout", ["official", "timm"])
def test_key_lists_are_the_public_state_dict(layout):
    lines = _key_file(layout)
    assert len(lines) == TIMM_ENTRIES
    assert hashlib.sha256("\n".join(lines).encode()).hexdigest() == TIMM_DIGEST


def test_table_1_rebuilds_the_public_state_dict():
    shapes, _ = table_1_state_dict()
    lines = [f"{k}\t{','.join(map(str, s))}" for k, s in shapes.items()]
    assert lines == _key_file("official")  # same names, shapes and order as the public implementation
    assert sum(math.prod(s) for k, s in shapes.items() if _learned(k)) == TIMM_PARAMETERS


# Learned parameters per stage (0: stem, 6: the 1×1 to 960, 7: head + classifier) by the table and the block
# design above, BN counted as 2 per channel; their sum is timm's count. Checked by hand:
#   0: 3·16·9 + 32 = 464.  1: two Ghost modules 16→16 (m = 8): 2 × (16·8 + 16 + 9·8 + 16) = 464.
#   2: ghost 16→48 (696) + dw 3×3 on 48 (528) + ghost 48→24 (732) + shortcut 16→24 (144 + 32 + 384 + 48)
#      = 2564, then ghost 24→72 (1332) + ghost 72→24 (1020) = 2352: 4916.
#   6: 160·960 + 2·960 = 155,520.  7: 960·1280 + 1280 + 1280·1000 + 1000 = 2,511,080.
STAGE_PARAMETERS = {0: 464, 1: 464, 2: 4_916, 3: 23_308, 4: 556_396, 5: 1_930_360, 6: 155_520, 7: 2_511_080}


def test_per_stage_parameters_of_the_table():
    shapes, stage_of = table_1_state_dict()
    assert _per_stage(shapes, stage_of) == STAGE_PARAMETERS
    assert sum(STAGE_PARAMETERS.values()) == TIMM_PARAMETERS


def test_edgepose_trunk_matches_table_1_tensor_by_tensor_and_stage_by_stage():
    """edgepose's trunk is the table's network without the head (1×1 to 1280 and the classifier): under the
    official names every tensor has the table's shape, none is missing or extra, each stage has the table's
    parameter count, and it runs to 960 channels at stride 32."""
    shapes, stage_of = table_1_state_dict()
    trunk = GhostNetBackbone()
    ours = {ours_to_official(k): tuple(v.shape) for k, v in trunk.state_dict().items()}
    expected = {k: s for k, s in shapes.items() if stage_of[k] != 7}
    assert ours.keys() == expected.keys(), sorted(ours.keys() ^ expected.keys())[:10]
    assert ours == expected
    assert _per_stage(ours, stage_of) == {k: v for k, v in STAGE_PARAMETERS.items() if k != 7}
    assert sum(p.numel() for p in trunk.parameters()) == TIMM_PARAMETERS - STAGE_PARAMETERS[7]
    assert trunk(torch.zeros(1, 3, 224, 224)).shape == (1, LAST_CONV, 7, 7)  # Table 1: 7²×960 before pooling
