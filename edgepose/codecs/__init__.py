"""Codecs: keypoints <-> network targets and outputs, in the network-input frame (numpy + OpenCV only).

:class:`~edgepose.codecs.base.HeatmapKeypointCodec` and :class:`~edgepose.codecs.base.PafKeypointCodec` are the
typed contracts the runtime relies on; :class:`~edgepose.codecs.heatmap.HeatmapCodec`
(top-down, MSRA / DARK) and :class:`~edgepose.codecs.paf.PafCodec` (bottom-up, heatmaps + PAFs) implement it.
"""
