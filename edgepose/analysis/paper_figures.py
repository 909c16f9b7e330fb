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

__all__ = ["PAPER_FIGURES", "PaperFigure", "compare"]


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


_FLPN = "FLPN (Ren et al. 2021)"
_NOGC = {"gc": False}

PAPER_FIGURES: tuple[PaperFigure, ...] = (
    # ---- FLPN and its SResNet variants: true MACs (SPEC A.1.6), all parameters
    PaperFigure(
        "FLPN SResNet-50", "flpn_sres50", paper_params_m=10.1922, paper_flops_g=1.2638, flops_convention="macs",
        source=f"{_FLPN} Tables 5/6/8 (Table 1: 10.04M / 1.1G)",
        spec_params_m=10.0792, spec_macs_g=1.2582, spec_hr1024_g=1.187,
    ),
    PaperFigure(
        "FLPN SResNet-101", "flpn_sres101", paper_params_m=17.0, paper_flops_g=2.0, flops_convention="macs",
        source=f"{_FLPN} Table 1", spec_params_m=16.991, spec_macs_g=2.146, spec_hr1024_g=2.014,
    ),
    PaperFigure(
        "FLPN SResNet-152", "flpn_sres152", paper_params_m=22.5, paper_flops_g=2.8, flops_convention="macs",
        source=f"{_FLPN} Table 1", spec_params_m=22.508, spec_macs_g=2.895, spec_hr1024_g=2.712,
    ),
    PaperFigure(
        "FLPN SResNet-50 MPII 256x256 K=16", "flpn_sres50",
        overrides={"num_keypoints": 16, "input_size": [256, 256]}, input_size=(256, 256),
        paper_params_m=10.0, paper_flops_g=1.1, flops_convention="macs",
        source=f"{_FLPN} Table 4", spec_params_m=10.08, spec_macs_g=1.68, spec_hr1024_g=1.58,
        note="paper FLOPs evidently copied from the 256x192 COCO row",
    ),
    # ---- FLPN ablations (Tables 6 and 8); the paper's ablation numbers contradict each other (SPEC A.1.6)
    PaperFigure(
        "FLPN-50 w/o GC", "flpn_sres50", overrides=_NOGC, paper_params_m=7.5104, paper_flops_g=1.1361,
        flops_convention="macs", source=f"{_FLPN} Table 8", spec_params_m=7.5305, spec_macs_g=1.2503,
        note="paper charges GC +0.128G, i.e. its 1×1 context convs at 8×6; real cost ~0.01G",
    ),
    PaperFigure(
        "FLPN-50 w/ standard bottleneck", "flpn_sres50", overrides={"bottleneck": "standard"},
        paper_params_m=23.5465, paper_flops_g=3.9537, flops_convention="macs", source=f"{_FLPN} Table 8",
        spec_params_m=23.58, spec_macs_g=4.04, spec_hr1024_g=3.78,
        note="spec: 23.555M with the maxpool stem",
    ),
    PaperFigure(
        "FLPN-50 w/ ghost bottleneck", "flpn_sres50", overrides={"bottleneck": "ghost"},
        paper_params_m=10.1594, paper_flops_g=1.7198, flops_convention="macs", source=f"{_FLPN} Table 8",
    ),
    PaperFigure(
        "FLPN-50 w/ mobilenet-v3 bottleneck", "flpn_sres50", overrides={"bottleneck": "mobilenetv3"},
        paper_params_m=14.7798, paper_flops_g=2.5543, flops_convention="macs", source=f"{_FLPN} Table 8",
    ),
    PaperFigure(
        "FLPN-50 w/o beginning block (maxpool stem)", "flpn_sres50", overrides={"stem": "maxpool"},
        paper_params_m=8.7980, paper_flops_g=1.2521, flops_convention="macs", source=f"{_FLPN} Table 6",
        note="-1.39M is unexplainable by a stem change (the two 3×3 convs hold ~38k params)",
    ),
    PaperFigure(
        "FLPN-50 w/o group deconvolution", "flpn_sres50", overrides={"head": "deconv"},
        paper_params_m=17.7887, paper_flops_g=3.5253, flops_convention="macs", source=f"{_FLPN} Table 6",
        spec_params_m=20.52, spec_macs_g=2.66, spec_hr1024_g=6.42,
    ),
    PaperFigure(
        "FLPN-50 w/o SSIM (t=2 everywhere)", "flpn_sres50", overrides={"ratios": [2, 2, 2, 2]},
        paper_params_m=8.9508, paper_flops_g=1.3137, flops_convention="macs", source=f"{_FLPN} Table 6",
        note="Table 7's 8.x-M rows are probably a different variant (SPEC A.1.6)",
    ),
    # ---- top-down baselines as FLPN Table 1 quotes them: HR-1024 FLOPs, Conv/BN/Linear params
    PaperFigure(
        "SimpleBaseline-R50", "simplebaseline_r50", paper_params_m=34.0, paper_flops_g=8.9,
        flops_convention="hr1024", params_convention="hr1024", source="SimpleBaseline via FLPN Table 1",
        spec_params_m=33.9997, spec_macs_g=5.426, spec_hr1024_g=8.991,
    ),
    PaperFigure(
        "SimpleBaseline-R101", "simplebaseline_r101", paper_params_m=53.0, paper_flops_g=12.4,
        flops_convention="hr1024", params_convention="hr1024", source="SimpleBaseline via FLPN Table 1",
        spec_params_m=52.99, spec_hr1024_g=12.38,
    ),
    PaperFigure(
        "SimpleBaseline-R152", "simplebaseline_r152", paper_params_m=68.6, paper_flops_g=15.7,
        flops_convention="hr1024", params_convention="hr1024", source="SimpleBaseline via FLPN Table 1",
        spec_params_m=68.64, spec_hr1024_g=15.76,
    ),
    PaperFigure(
        "LPN-50", "lpn50", paper_params_m=2.9, paper_flops_g=1.0, flops_convention="hr1024",
        params_convention="hr1024", source="LPN via FLPN Table 1",
        spec_params_m=2.911, spec_macs_g=1.068, spec_hr1024_g=1.008,
    ),
    PaperFigure(
        "LPN-101", "lpn101", paper_params_m=5.3, paper_flops_g=1.4, flops_convention="hr1024",
        params_convention="hr1024", source="LPN via FLPN Table 1",
        spec_params_m=5.354, spec_macs_g=1.505, spec_hr1024_g=1.414,
    ),
    PaperFigure(
        "LPN-152", "lpn152", paper_params_m=7.4, paper_flops_g=1.8, flops_convention="hr1024",
        params_convention="hr1024", source="LPN via FLPN Table 1",
        spec_params_m=7.378, spec_macs_g=1.943, spec_hr1024_g=1.823,
    ),
    # ---- bottom-up at 368×368: true MACs (Osokin's convention, which the cross-fusion paper compares against)
    PaperFigure(
        "Cross-fusion (GhostNet)", "xfuse_ghostnet", input_size=(368, 368), paper_flops_g=18.02,
        flops_convention="macs", source="Zhu et al. Table 1 (no params given)",
        spec_params_m=8.845, spec_macs_g=18.004,
    ),
    PaperFigure(
        "Cross-fusion (ResNet-18)", "xfuse_resnet18", input_size=(368, 368),
        source="Zhu et al. Table 2 (AP only, no complexity given)",
    ),
    PaperFigure(
        "Cross-fusion (ResNet-50)", "xfuse_resnet50", input_size=(368, 368),
        source="Zhu et al. Table 2 (AP only, no complexity given)",
    ),
    PaperFigure(
        "Lightweight OpenPose (MobileNet, 1 refinement)", "lwop_mobilenet", input_size=(368, 368),
        paper_params_m=4.1, paper_flops_g=9.0, flops_convention="macs", source="Osokin 2018 (4.1M, 9 GFLOPs)",
        spec_params_m=4.0917, spec_macs_g=8.882,
    ),
)  # fmt: skip


def _rel(ours: float | None, ref: float | None) -> float | None:
    if ours is None or ref is None or ref == 0:
        return None
    return (ours - ref) / ref


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
    }
