"""The top-level API: ``from edgepose import PoseEstimator, draw_poses`` works, and ``import edgepose`` stays
torch-free and light (no torch, OpenCV or onnxruntime until a lazy name is used)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_import_edgepose_is_light_and_lazy_names_resolve():
    script = textwrap.dedent(
        """
        import sys
        import edgepose
        heavy = [m for m in ("torch", "cv2", "onnxruntime", "matplotlib") if m in sys.modules]
        assert not heavy, f"import edgepose imported {heavy}"
        from edgepose import PoseEstimator, draw_poses, draw_pose, Person
        from edgepose.runtime import PoseEstimator as P2
        from edgepose.vis.draw import draw_poses as d2
        assert PoseEstimator is P2 and draw_poses is d2
        assert "torch" not in sys.modules, "the lazy names imported torch"
        assert {"PoseEstimator", "draw_poses"} <= set(dir(edgepose)) and set(edgepose.__all__) >= {"draw_pose"}
        try:
            edgepose.no_such_name
        except AttributeError as exc:
            assert "no_such_name" in str(exc)
        else:
            raise AssertionError("unknown attribute did not raise")
        print("ok")
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr


def test_pose_estimator_with_no_arguments_runs_the_shipped_model_without_torch(run_without_torch):
    """What a fresh `pip install edgepose[runtime]` gives: `PoseEstimator()` needs no file and no PyTorch."""
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from edgepose import PoseEstimator
        estimator = PoseEstimator(threads=1)
        persons = estimator(np.full((200, 120, 3), 128, np.uint8))
        assert len(persons) == 1 and persons[0].keypoints.shape == (estimator.info.num_keypoints, 3)
        assert "torch" not in sys.modules
        print("ok", estimator.info.model_name, estimator.refine, estimator.flip_test)
        """
    )
    proc = run_without_torch(["-c", script], timeout=300)
    assert proc.returncode == 0 and proc.stdout.startswith("ok "), proc.stderr
    assert proc.stdout.split()[-1] == "True", "the flip test is on, as in `edgepose predict`"
