"""One constructor style for every model: a class whose keywords are the options, variants fixing some of them."""

from __future__ import annotations

import inspect

import pytest
import torch

from edgepose.models import MODEL_TABLE, build_model, get_constructor, model_options
from edgepose.models.bottomup import LOSS_FAMILIES, BottomUpPafNet
from edgepose.models.flpn import FLPN
from edgepose.models.lwop import LightweightOpenPose
from edgepose.models.lwop_resnet import LightweightOpenPoseResNet
from edgepose.models.topdown import TopDownHeatmapNet
from edgepose.models.xfuse import CrossFusionNet


@pytest.mark.parametrize("name", list(MODEL_TABLE))
def test_every_constructor_is_a_variant_of_a_model_class(name):
    constructor = get_constructor(name)
    cls = inspect.signature(constructor).return_annotation
    assert isinstance(cls, type) and issubclass(cls, torch.nn.Module), name
    # a pose network: the table-driven trunks, the bottom-up family, or another family (MobileNetV2 trunks for
    # published weights) that declares what every pose model states
    assert issubclass(cls, TopDownHeatmapNet | BottomUpPafNet) or (
        cls.task in ("topdown", "bottomup") and getattr(cls, "input_normalization", None)
    ), name
    options = model_options(name)
    class_options = {k: p.default for k, p in inspect.signature(cls).parameters.items()}
    assert options.items() <= class_options.items()  # the class's keywords, minus the fixed ones
    assert "depth" not in options


def test_a_fixed_keyword_cannot_be_overridden():
    with pytest.raises(TypeError, match="fixes depth=101"):
        get_constructor("flpn_sres101")(depth=50)
    assert get_constructor("flpn_sres101").__name__ == "flpn_sres101" and FLPN.__module__ == "edgepose.models.flpn"


def test_bottom_up_models_name_their_loss_family():
    assert CrossFusionNet.loss_family == "crossfusion"
    assert LightweightOpenPose.loss_family == LightweightOpenPoseResNet.loss_family == "openpose"
    for name in MODEL_TABLE:
        cls = inspect.signature(get_constructor(name)).return_annotation
        if issubclass(cls, BottomUpPafNet):
            assert cls.loss_family in LOSS_FAMILIES and cls.task == "bottomup", name


def test_output_names_follow_the_stage_outputs():
    model = build_model("lwop_mobilenet", num_refinement_stages=1, channels=16, initial_head_width=32)
    assert model.output_names == ["heat0", "paf0", "heat1", "paf1"]
    assert model.set_final_only().output_names == ["heatmaps", "pafs"]
