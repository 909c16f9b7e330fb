"""The published complexity figures edgepose's models are checked against, with the convention of each.

Two kinds of reference figure per row:

* **paper**: what the paper prints (FLPN = Ren et al., IEEE Access 2021; cross-fusion = Zhu et al., IEEE
  Access; SimpleBaseline / LPN as quoted in FLPN Table 1; Lightweight OpenPose = Osokin 2018). Each has a
  ``flops_convention``: ``"macs"`` (true multiply-accumulates, the papers' "FLOPs"/"GFLOPs") or
  ``"hr1024"`` (HRNet's ``get_model_summary``: Conv*/Linear ``weight.numel()·Hout·Wout`` / 1024³) and a
  ``params_convention``: ``"all"`` or ``"hr1024"`` (Conv/BN/Linear parameters only).
* **spec**: the numbers the SPEC's throw-away re-implementation reached with the same readings
  (``/shared/spec/SPEC.md`` A.0, A.1.6, A.2.4 and the appendix). Where the paper is internally inconsistent
  (FLPN's ablation tables), the spec figure is the one edgepose should land on.

``edgepose complexity --all`` prints every row next to edgepose's own count and the relative difference
from the paper (in the paper's convention).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FLOPS_TOLERANCE", "PAPER_FIGURES", "PARAMS_TOLERANCE", "PaperFigure", "compare", "within_tolerance"]

PARAMS_TOLERANCE = 0.03
"""A row is reproduced when our parameters are within ±3 % of the paper's ..."""
FLOPS_TOLERANCE = 0.05
"""... and our FLOPs, in the paper's convention, within ±5 %."""


@dataclass(frozen=True)
class PaperFigure:
    """One reference row: a model (with overrides) at an input size, and what the paper/spec say it costs."""

    label: str
    model: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    input_size: tuple[int, int] | None = None  # None: the model's own default
    paper_params_m: float | None = None
    paper_flops_g: float | None = None
    flops_convention: str | None = None  # "macs" or "hr1024"
    params_convention: str = "all"  # "all" or "hr1024"
    source: str = ""
    spec_params_m: float | None = None
    spec_macs_g: float | None = None
    spec_hr1024_g: float | None = None
    note: str = ""
    table: str = ""  # the paper table the row comes from, e.g. "FLPN T6", "xfuse T2"
    config: str | None = None  # configs/<config>.yaml builds this row's network (None: no training config shipped)
    reading: str = ""  # the reading taken where the paper leaves the network open (docs/models.md, ablation search)


_FLPN = "FLPN (Ren et al. 2021)"
_NOGC = {"gc": False}
_V8 = "8.x-M variant (layer4 t=4)"
# Table 7 (ratio of stages 0-1; the text dump lost most check marks): row, ratios (t0..t3), paper params M / FLOPs G,
# reading. The 10.x-M rows are reached with t2 = t3 = 2, every 8.x-M row with t3 = 4 (benchmarks/ablation_search.py).
_TABLE7: tuple[tuple[int, tuple[int, int, int, int], float, float, str], ...] = (
    (1, (2, 2, 2, 4), 8.59, 1.31, f"no marks; same AP/AR as T6 'w/o SSIM': t=2 in stages 0-1, {_V8}"),
    (2, (4, 2, 2, 4), 8.94, 1.29, f"marks 2 and 4; {_V8}"),
    (3, (2, 4, 2, 4), 8.84, 1.20, f"mark 4; best fit (4,4) is 8.69M/1.17G; {_V8}"),
    (4, (2, 8, 2, 2), 10.20, 1.26, "marks 2 and 8: the headline model"),
    (5, (4, 4, 2, 4), 8.83, 1.17, f"mark 8, but (8,8) misses the FLOPs by -7.5%; best fit (4,4), {_V8}"),
    (6, (4, 4, 2, 4), 8.79, 1.15, f"no marks; best fit, {_V8}"),
    (7, (2, 16, 2, 2), 10.19, 1.25, "marks 2 and 16"),
    (8, (16, 16, 2, 2), 10.09, 1.18, "mark 16 (both stages)"),
    (
        9,
        (2, 8, 2, 2),
        10.19,
        1.26,
        "'Ours': same AP/AR as row 4, so the same network (its lone mark under 16 is garbled)",
    ),
    (10, (8, 4, 2, 4), 8.77, 1.12, f"no marks; best fit, {_V8}"),
)

PAPER_FIGURES: tuple[PaperFigure, ...] = (
    # ---- FLPN and its SResNet variants: true MACs (SPEC A.1.6), all parameters
    PaperFigure(
        "FLPN SResNet-50", "flpn_sres50", paper_params_m=10.1922, paper_flops_g=1.2638, flops_convention="macs",
        source=f"{_FLPN} Tables 5/6/8 (Table 1: 10.04M / 1.1G)",
        spec_params_m=10.0792, spec_macs_g=1.2582, spec_hr1024_g=1.187, table="FLPN T1/T5/T6/T8",
        config="flpn_sres50_coco_256x192", reading="SPEC A.1: Smart bottleneck, ratios (2, 8, 2, 2), GC 1/16",
    ),
    PaperFigure(
        "FLPN SResNet-101", "flpn_sres101", paper_params_m=17.0, paper_flops_g=2.0, flops_convention="macs",
        source=f"{_FLPN} Table 1", spec_params_m=16.991, spec_macs_g=2.146, spec_hr1024_g=2.014,
        table="FLPN T1", config="flpn_sres101_coco_256x192",
    ),
    PaperFigure(
        "FLPN SResNet-152", "flpn_sres152", paper_params_m=22.5, paper_flops_g=2.8, flops_convention="macs",
        source=f"{_FLPN} Table 1", spec_params_m=22.508, spec_macs_g=2.895, spec_hr1024_g=2.712,
        table="FLPN T1", config="flpn_sres152_coco_256x192",
    ),
    PaperFigure(
        "FLPN SResNet-50 MPII 256x256 K=16", "flpn_sres50",
        overrides={"num_keypoints": 16, "input_size": [256, 256]}, input_size=(256, 256),
        paper_params_m=10.0, paper_flops_g=1.1, flops_convention="macs",
        source=f"{_FLPN} Table 4", spec_params_m=10.08, spec_macs_g=1.68, spec_hr1024_g=1.58,
        table="FLPN T4", config="flpn_sres50_mpii_256x256", reading="as COCO, K=16 at 256x256",
        note="paper FLOPs evidently copied from the 256x192 COCO row",
    ),
    PaperFigure(
        "FLPN SResNet-101 MPII 256x256 K=16", "flpn_sres101",
        overrides={"num_keypoints": 16, "input_size": [256, 256]}, input_size=(256, 256),
        paper_params_m=16.9, paper_flops_g=2.0, flops_convention="macs", source=f"{_FLPN} Table 4",
        table="FLPN T4", config="flpn_sres101_mpii_256x256", reading="as COCO, K=16 at 256x256",
        note="paper FLOPs = the 256x192 COCO figure of Table 1 (2.0G); no reading reaches it at 256x256",
    ),
    PaperFigure(
        "FLPN SResNet-152 MPII 256x256 K=16", "flpn_sres152",
        overrides={"num_keypoints": 16, "input_size": [256, 256]}, input_size=(256, 256),
        paper_params_m=22.5, paper_flops_g=2.8, flops_convention="macs", source=f"{_FLPN} Table 4",
        table="FLPN T4", config="flpn_sres152_mpii_256x256", reading="as COCO, K=16 at 256x256",
        note="paper FLOPs = the 256x192 COCO figure of Table 1 (2.8G); no reading reaches it at 256x256",
    ),
    # ---- FLPN ablations (Tables 5-8). Readings chosen by benchmarks/ablation_search.py (results in
    # benchmarks/results/ablation_search.txt); docs/models.md "Paper rows" says why for each.
    PaperFigure(
        "FLPN T5 SimpleBaseline + MobileNetV3 bottleneck", "flpn_sres50",
        overrides={"bottleneck": "mobilenetv3", "se": True, "gc": False, "stem": "maxpool", "head": "deconv"},
        paper_params_m=45.7, paper_flops_g=12.6, flops_convention="macs", source=f"{_FLPN} Table 5", table="FLPN T5",
        config="flpn_sres50_coco_256x192_table5_sb_mobilenetv3",
        reading="SimpleBaseline (max-pool stem, dense deconvs, no GC) with MobileNetV3 blocks (hidden width M, SE)",
        note="no reading reaches 45.7M/12.6G: SimpleBaseline-R50 itself is 34.0M; its bottlenecks' 3x3 hold 11.3M",
    ),
    PaperFigure(
        "FLPN T5 SimpleBaseline + Ghost bottleneck", "flpn_sres50",
        overrides={"bottleneck": "ghost", "ratios": [2, 2, 2, 2], "gc": False, "stem": "maxpool", "head": "deconv"},
        paper_params_m=7.4, paper_flops_g=20.6, flops_convention="macs", source=f"{_FLPN} Table 5", table="FLPN T5",
        config="flpn_sres50_coco_256x192_table5_sb_ghost",
        reading="SimpleBaseline (max-pool stem, dense deconvs, no GC) with GhostNet blocks at GhostNet's t=2",
        note="7.4M is below SimpleBaseline's dense head alone (10.5M) while 20.6G is 2.3x SimpleBaseline-R50: "
        "no network of this family has both",
    ),
    PaperFigure(
        "FLPN T6 w/o beginning block (max-pool stem)", "flpn_sres50",
        overrides={"stem": "maxpool", "ratios": [4, 2, 2, 4]}, paper_params_m=8.7980, paper_flops_g=1.2521,
        flops_convention="macs", source=f"{_FLPN} Table 6", table="FLPN T6",
        config="flpn_sres50_coco_256x192_table6_wo_beginning_block",
        reading="max-pool stem on the paper's 8.x-M variant (layer4 t=4), best (t0, t1) = (4, 2)",
        note="changing only the stem gives 10.05M (+14%): flpn_sres50_coco_256x192_maxpool_stem.yaml",
    ),
    PaperFigure(
        "FLPN T6 w/o SSIM", "flpn_sres50", overrides={"ratios": [2, 2, 2, 4]},
        paper_params_m=8.9508, paper_flops_g=1.3137, flops_convention="macs", source=f"{_FLPN} Table 6",
        table="FLPN T6", config="flpn_sres50_coco_256x192_table6_wo_ssim",
        reading="t=2 in the two stages SSIM chooses, 8.x-M variant's layer4 t=4 (same AP as Table 7 row 1)",
        note="t=2 everywhere gives 10.25M / 1.42G (flpn_sres50_coco_256x192_uniform_ratios.yaml)",
    ),
    PaperFigure(
        "FLPN T6 w/o group deconvolution", "flpn_sres50", overrides={"head": "deconv"},
        paper_params_m=17.7887, paper_flops_g=3.5253, flops_convention="macs", source=f"{_FLPN} Table 6",
        table="FLPN T6", config="flpn_sres50_coco_256x192_plain_deconv",
        reading="SimpleBaseline's dense 256-wide deconvs in place of the group deconvs",
        spec_params_m=20.52, spec_macs_g=2.66, spec_hr1024_g=6.42,
        note="no reading reaches it (closest with one more change: gc=false + LPN 1x1s, 18.17M / 2.92G)",
    ),
    PaperFigure(
        "FLPN T8 w/ ghost bottleneck", "flpn_sres50", overrides={"bottleneck": "ghost", "ratios": [2, 2, 2, 2]},
        paper_params_m=10.1594, paper_flops_g=1.7198, flops_convention="macs", source=f"{_FLPN} Table 8",
        table="FLPN T8", config="flpn_sres50_coco_256x192_table8_ghost",
        reading="GhostNet's bottleneck (dw only when strided, no SE) at GhostNet's t=2, GC kept",
        note="params match; FLOPs -18%: no ghost reading reaches 1.72G without changing the head",
    ),
    PaperFigure(
        "FLPN T8 w/ mobilenet-v3 bottleneck", "flpn_sres50", overrides={"bottleneck": "mobilenetv3"},
        paper_params_m=14.7798, paper_flops_g=2.5543, flops_convention="macs", source=f"{_FLPN} Table 8",
        table="FLPN T8", config="flpn_sres50_coco_256x192_mobilenetv3",
        reading="MobileNetV3 block with hidden width M, h-swish, GC kept, no SE",
        note="params match; FLOPs -12% with every SE/GC choice",
    ),
    PaperFigure(
        "FLPN-50 w/ standard bottleneck", "flpn_sres50", overrides={"bottleneck": "standard"},
        paper_params_m=23.5465, paper_flops_g=3.9537, flops_convention="macs", source=f"{_FLPN} Table 8",
        spec_params_m=23.58, spec_macs_g=4.04, spec_hr1024_g=3.78, table="FLPN T8",
        config="flpn_sres50_coco_256x192_standard", reading="ResNet bottleneck (torchvision keys), no GC",
        note="spec: 23.555M with the maxpool stem",
    ),
    PaperFigure(
        "FLPN-50 w/o GC", "flpn_sres50", overrides=_NOGC, paper_params_m=7.5104, paper_flops_g=1.1361,
        flops_convention="macs", source=f"{_FLPN} Table 8", spec_params_m=7.5305, spec_macs_g=1.2503,
        table="FLPN T8", config="flpn_sres50_coco_256x192_nogc", reading="GC block removed from every bottleneck",
        note="paper charges GC +0.128G, i.e. its 1×1 context convs at 8×6; real cost ~0.01G",
    ),
    *(
        PaperFigure(
            f"FLPN T7 row {i} (t={','.join(map(str, ratios))})", "flpn_sres50",
            overrides={} if ratios == (2, 8, 2, 2) else {"ratios": list(ratios)},
            paper_params_m=p, paper_flops_g=f, flops_convention="macs", source=f"{_FLPN} Table 7", table="FLPN T7",
            config="flpn_sres50_coco_256x192" if ratios == (2, 8, 2, 2) else f"flpn_sres50_coco_256x192_table7_row{i}",
            reading=why,
        )
        for i, ratios, p, f, why in _TABLE7
    ),
    # ---- top-down baselines as FLPN Table 1 quotes them: HR-1024 FLOPs, Conv/BN/Linear params
    PaperFigure(
        "SimpleBaseline-R50", "simplebaseline_r50", paper_params_m=34.0, paper_flops_g=8.9,
        flops_convention="hr1024", params_convention="hr1024", source="SimpleBaseline via FLPN Table 1",
        spec_params_m=33.9997, spec_macs_g=5.426, spec_hr1024_g=8.991, table="FLPN T1/T5",
        config="simplebaseline_r50_coco_256x192",
    ),
    PaperFigure(
        "SimpleBaseline-R101", "simplebaseline_r101", paper_params_m=53.0, paper_flops_g=12.4,
        flops_convention="hr1024", params_convention="hr1024", source="SimpleBaseline via FLPN Table 1",
        spec_params_m=52.99, spec_hr1024_g=12.38, table="FLPN T1",
    ),
    PaperFigure(
        "SimpleBaseline-R152", "simplebaseline_r152", paper_params_m=68.6, paper_flops_g=15.7,
        flops_convention="hr1024", params_convention="hr1024", source="SimpleBaseline via FLPN Table 1",
        spec_params_m=68.64, spec_hr1024_g=15.76, table="FLPN T1",
    ),
    *(
        PaperFigure(
            f"SimpleBaseline-R{d} MPII 256x256 K=16", f"simplebaseline_r{d}",
            overrides={"num_keypoints": 16, "input_size": [256, 256]}, input_size=(256, 256),
            paper_params_m=p, paper_flops_g=f, flops_convention="hr1024", params_convention="hr1024",
            source="SimpleBaseline via FLPN Table 4", table="FLPN T4",
            note="neither convention reaches the paper's FLOPs at 256x256 (HR-1024 +24%, MACs -25%)",
        )
        for d, p, f in ((50, 34.0, 9.7), (101, 53.0, 13.3), (152, 68.6, 17.0))
    ),
    PaperFigure(
        "LPN-50", "lpn50", paper_params_m=2.9, paper_flops_g=1.0, flops_convention="hr1024",
        params_convention="hr1024", source="LPN via FLPN Table 1", table="FLPN T1", config="lpn50_coco_256x192",
        spec_params_m=2.911, spec_macs_g=1.068, spec_hr1024_g=1.008,
    ),
    PaperFigure(
        "LPN-101", "lpn101", paper_params_m=5.3, paper_flops_g=1.4, flops_convention="hr1024",
        params_convention="hr1024", source="LPN via FLPN Table 1", table="FLPN T1",
        spec_params_m=5.354, spec_macs_g=1.505, spec_hr1024_g=1.414,
    ),
    PaperFigure(
        "LPN-152", "lpn152", paper_params_m=7.4, paper_flops_g=1.8, flops_convention="hr1024",
        params_convention="hr1024", source="LPN via FLPN Table 1", table="FLPN T1",
        spec_params_m=7.378, spec_macs_g=1.943, spec_hr1024_g=1.823,
    ),
    # ---- bottom-up at 368×368: true MACs (Osokin's convention, which the cross-fusion paper compares against)
    PaperFigure(
        "Cross-fusion (GhostNet)", "xfuse_ghostnet", input_size=(368, 368), paper_flops_g=18.02,
        flops_convention="macs", source="Zhu et al. Table 1 (no params given)", table="xfuse T1/T2",
        config="xfuse_ghostnet_coco_368", reading="GhostNet cut R1, cross residual (SPEC A.2)",
        spec_params_m=8.845, spec_macs_g=18.004,
    ),
    PaperFigure(
        "Cross-fusion (ResNet-18)", "xfuse_resnet18", input_size=(368, 368), table="xfuse T2",
        config="xfuse_resnet18_coco_368",
        source="Zhu et al. Table 2 (AP only, no complexity given)",
    ),
    PaperFigure(
        "Cross-fusion (ResNet-50)", "xfuse_resnet50", input_size=(368, 368), table="xfuse T2",
        config="xfuse_resnet50_coco_368",
        source="Zhu et al. Table 2 (AP only, no complexity given)",
    ),
    PaperFigure(
        "Lightweight OpenPose (ResNet-18)", "lwop_resnet18", input_size=(368, 368), table="xfuse T2",
        config="lwop_resnet18_coco_368_xfuse_table2", source="Zhu et al. Table 2 (AP only, no complexity given)",
        reading="LWOP stages on xfuse_resnet18's stride-8 ResNet-18 + 1x1 -> 512",
    ),
    PaperFigure(
        "Lightweight OpenPose (ResNet-50)", "lwop_resnet50", input_size=(368, 368), table="xfuse T2",
        config="lwop_resnet50_coco_368_xfuse_table2", source="Zhu et al. Table 2 (AP only, no complexity given)",
        reading="LWOP stages on xfuse_resnet50's stride-8 ResNet-50 + 1x1 -> 512",
    ),
    PaperFigure(
        "Lightweight OpenPose (MobileNet, 1 refinement)", "lwop_mobilenet", input_size=(368, 368),
        paper_params_m=4.1, paper_flops_g=9.0, flops_convention="macs", source="Osokin 2018 (4.1M, 9 GFLOPs)",
        table="xfuse T1", config="lwop_mobilenet_coco_368",
        spec_params_m=4.0917, spec_macs_g=8.882,
    ),
)  # fmt: skip


def _rel(ours: float | None, ref: float | None) -> float | None:
    if ours is None or ref is None or ref == 0:
        return None
    return (ours - ref) / ref


def within_tolerance(params_rel: float | None, flops_rel: float | None) -> bool | None:
    """True/False when the paper gives both figures (±3 % params, ±5 % FLOPs); None when it gives neither.

    A row with only one figure (e.g. the cross-fusion network's FLOPs) is judged on that one."""
    figures = [(params_rel, PARAMS_TOLERANCE), (flops_rel, FLOPS_TOLERANCE)]
    known = [(rel, tol) for rel, tol in figures if rel is not None]
    if not known:
        return None
    return all(abs(rel) <= tol for rel, tol in known)


def compare(figure: PaperFigure, report: Any) -> dict[str, Any]:
    """edgepose's figures for ``figure``'s row (a ComplexityReport) next to the paper's, in the paper's convention.

    Returns ``params_m`` / ``macs_g`` / ``hr1024_g`` (ours), ``ours_params_m`` / ``ours_flops_g`` (ours in the
    paper's conventions), the paper and spec figures, and ``params_rel`` / ``flops_rel`` = (ours − paper)/paper.
    """
    params_all = report.params / 1e6
    params_hr = report.params_hr1024 / 1e6
    macs = report.macs / 1e9
    hr = report.hr1024_gflops
    ours_params = params_hr if figure.params_convention == "hr1024" else params_all
    ours_flops = {"macs": macs, "hr1024": hr}.get(figure.flops_convention or "", None)
    return {
        "label": figure.label,
        "model": figure.model,
        "overrides": dict(figure.overrides),
        "input_size": list(report.input_size),
        "params_m": params_all,
        "params_hr1024_m": params_hr,
        "macs_g": macs,
        "hr1024_g": hr,
        "ours_params_m": ours_params,
        "ours_flops_g": ours_flops,
        "paper_params_m": figure.paper_params_m,
        "paper_flops_g": figure.paper_flops_g,
        "flops_convention": figure.flops_convention,
        "params_convention": figure.params_convention,
        "params_rel": _rel(ours_params, figure.paper_params_m),
        "flops_rel": _rel(ours_flops, figure.paper_flops_g),
        "spec_params_m": figure.spec_params_m,
        "spec_macs_g": figure.spec_macs_g,
        "spec_hr1024_g": figure.spec_hr1024_g,
        "source": figure.source,
        "note": figure.note,
        "table": figure.table,
        "config": figure.config,
        "reading": figure.reading,
        "within_tolerance": within_tolerance(
            _rel(ours_params, figure.paper_params_m), _rel(ours_flops, figure.paper_flops_g)
        ),
    }
