"""Deprecated: :mod:`skbar.heads` (removed in 0.3)."""

import warnings

from .heads._label_maps import *  # noqa: F401,F403
from .heads._label_maps import _LEFT_OUT  # noqa: F401

warnings.warn("skbar.mapping moved to skbar.heads in skbar 0.2.", FutureWarning, stacklevel=2)
