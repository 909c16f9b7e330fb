"""Importers: published networks in other frameworks' files (TFLite, OpenVINO IR) as edgepose weights.

Each importer reads its file with the framework's own reader (an optional extra, ``edgepose[import]``; never
needed once a checkpoint is written) and returns an :class:`~edgepose.models.importers.base.ImportedWeights`:
either a whole edgepose model (its name, overrides and full state dict: ``--weights`` takes it everywhere) or
a backbone's state dict that ``model.pretrained`` takes. ``edgepose import SRC --out CKPT`` writes either.
"""

from __future__ import annotations

from edgepose.models.importers.base import ImportedWeights, import_file

__all__ = ["ImportedWeights", "import_file"]
