"""Deprecated: :mod:`skbar.canvas` (removed in 0.3)."""

import warnings

from .canvas import Program, bilinear_matrix, match_channels, resize_images, to_images  # noqa: F401

warnings.warn("skbar.program moved to skbar.canvas in skbar 0.2.", FutureWarning, stacklevel=2)
