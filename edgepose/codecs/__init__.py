"""Codecs: keypoints <-> network targets and outputs, in the network-input frame (numpy + OpenCV only).

:class:`~edgepose.codecs.base.KeypointCodec` is the contract; :class:`~edgepose.codecs.heatmap.HeatmapCodec`
(top-down, MSRA / DARK) and :class:`~edgepose.codecs.paf.PafCodec` (bottom-up, heatmaps + PAFs) implement it.
"""
