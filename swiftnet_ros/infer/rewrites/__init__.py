"""Inference-only model rewrites, each on its own and each exact up to float rounding.

- ``surgery``: replacing a submodule by its dotted name (what every rewrite below uses);
- ``fold_bn``: conv -> BatchNorm pairs folded into the convolution, found by tracing one forward;
- ``fused``: ``FusedSwiftNet``, every BatchNorm folded and the elementwise work fused (single scale);
- ``winograd``: 3x3 convolutions through NNPACK's Winograd transform on CPU, the stem channels-last.

The torch backend (``backend_torch.py``) chooses and combines them; nothing here imports a backend.
"""
