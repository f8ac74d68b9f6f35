"""The estimator's parameters resolved into parts, and every setting checked before a query.

String options name parts (``optimizer="spsa-gc"``); objects are cloned, so a fit never
changes what the user passed. Every check that does not need the model's answers runs
here, before the first query is paid for.
"""

import functools
import warnings
from dataclasses import dataclass
from numbers import Integral

import numpy as np
from sklearn.base import clone
from sklearn.utils.class_weight import compute_class_weight

from .canvas import check_views, first_views
from .heads import HEADS, check_label_map, check_mapping_size, resolve_objective
from .losses import cross_entropy, focal_loss
from .optim import CMAES, SGD, SPSA, SPSAGC, Adam, RandomDirections
from .oracles import QueryCounter

GRADIENTS = {"spsa": SPSA, "random": RandomDirections}
OPTIMIZERS = {"spsa-gc": SPSAGC, "sgd": SGD, "adam": Adam, "cma": CMAES}
LOSSES = {"focal": focal_loss, "ce": cross_entropy}

#: Parameters renamed in 0.2: the old name, its replacement.
RENAMED = {"mapping": "label_map", "output_mapping": "head"}


@dataclass
class Parts:
    """The resolved parts of a fit, each a fresh object."""

    gradient: object
    optimizer: object
    head: object
    label_map: object
    objective: str
    views: object


def _resolve(value, names):
    return names[value]() if isinstance(value, str) else clone(value)


def renamed(estimator, new):
    """The value of parameter ``new``, or of its deprecated old name where that was set."""
    old = {v: k for k, v in RENAMED.items()}[new]
    value = getattr(estimator, old)
    if isinstance(value, str) and value == "deprecated":
        return getattr(estimator, new)
    warnings.warn(f"'{old}' was renamed '{new}' in skbar 0.2 and will be removed in 0.3; "
                  f"pass {new}={value!r} instead.", FutureWarning)
    return value


def _from_head(head, name, value, default):
    """A setting of the estimator that the head may still give under its deprecated name."""
    given = head.get_params().get(name, "deprecated") if hasattr(head, "get_params") else \
        "deprecated"
    if isinstance(given, str) and given == "deprecated":
        return value
    warnings.warn(f"{type(head).__name__}({name}=...) moved to the estimator in skbar 0.2 "
                  f"and will be removed in 0.3; pass {name}={given!r} to "
                  "BlackBoxReprogrammingClassifier instead.", FutureWarning)
    return given if (isinstance(value, str) and value == default) else value


def resolve_parts(estimator, warn=True):
    """The estimator's parts, resolved and validated (no query is made)."""
    gradient = _resolve(estimator.gradient, GRADIENTS)
    optimizer = _resolve(estimator.optimizer, OPTIMIZERS)
    head = _resolve(renamed(estimator, "head"), HEADS)
    objective = _from_head(head, "objective", estimator.objective, "auto")
    views = _from_head(head, "views", estimator.views, "auto")
    for part in (gradient, optimizer, head):
        if hasattr(part, "_validate_params"):
            part._validate_params()
    if warn and isinstance(optimizer, CMAES) and not (
            isinstance(estimator.gradient, str) and estimator.gradient == "spsa"):
        warnings.warn("gradient has no effect with optimizer='cma': CMA-ES ranks q candidate "
                      "programs per step and estimates no gradient.", UserWarning)
    return Parts(gradient, optimizer, head, renamed(estimator, "label_map"), objective, views)


def check_before_paying(estimator, parts, n_classes, n_source):
    """Refuse, before any query, a setting that could only fail after one.

    Parameters
    ----------
    n_classes : int
        Target classes.
    n_source : int or None
        The model's classes, where the oracle says (``n_classes`` attribute).
    """
    optimizer, head = parts.optimizer, parts.head
    if isinstance(optimizer, CMAES) and estimator.q != "auto" and estimator.q < 2:
        raise ValueError(f"optimizer='cma' ranks q candidate programs per step and needs "
                         f"q >= 2, got q={estimator.q}.")
    check_views(parts.views, head)
    resolve_objective(parts.objective, head, None)  # refuses what the head cannot do
    if n_source is None:
        return
    n_views = first_views(parts.views)
    if n_classes > n_source:
        raise ValueError(f"y has {n_classes} classes but the oracle answers {n_source}: a "
                         "label map needs at least one source label per target class.")
    how = parts.label_map
    if not isinstance(how, str):
        label_map = check_label_map(how, n_classes, n_source * n_views)
        if isinstance(estimator.m, Integral) and label_map.shape[1] != estimator.m:
            raise ValueError(
                f"label_map has {label_map.shape[1]} source labels per class but "
                f"m={estimator.m}; set m={label_map.shape[1]}.")
        check_mapping_size(n_classes, n_source * n_views, label_map.shape[1])
    elif isinstance(estimator.m, Integral):
        check_mapping_size(n_classes, n_source, estimator.m)


#: A small budget: what is left after the passes buys fewer steps than this at ``q=5``.
AUTO_Q_STEPS = 30

#: The first gain of the default optimiser (``optimizer="spsa-gc"``) at a small budget:
#: five times its own (0.01). Spall's gain decays with the steps taken, so a search of a
#: few steps at the usual gain hardly leaves the grey frame it starts from.
SMALL_BUDGET_GAIN = 0.05


def small_budget(optimizer, gradient, left, batch):
    """Whether ``left``, the queries the search may spend (the budget after the first pass
    and the final pass it reserves), buys fewer than :data:`AUTO_Q_STEPS` steps at
    ``q=5`` of ``batch`` samples."""
    return left < AUTO_Q_STEPS * optimizer.n_evaluations(5, gradient) * batch


def resolve_q(q, optimizer, small):
    """``q``, with ``"auto"`` resolved: 2 at a ``small`` budget (more steps do more than
    better estimates there), else 5; 5 for CMA-ES (a population, not directions)."""
    if q != "auto":
        return q
    if isinstance(optimizer, CMAES):
        return 5
    return 2 if small else 5


def resolve_gain(named, optimizer, small):
    """Give the default optimiser, where it was ``named`` (the string ``"spsa-gc"``), its
    first gain for a ``small`` budget; an optimiser given as an object keeps its own."""
    if small and isinstance(named, str) and named == "spsa-gc":
        optimizer.set_params(learning_rate=SMALL_BUDGET_GAIN)
    return optimizer


def make_loss(estimator, y, classes):
    """The loss with the class weights of ``y``, as ``loss(proba, y)``."""
    weights = None
    if estimator.class_weight is not None:
        weights = compute_class_weight(estimator.class_weight, classes=classes, y=y)
    loss = LOSSES[estimator.loss] if isinstance(estimator.loss, str) else estimator.loss
    return functools.partial(loss, class_weight=weights)


def plain(value):
    """A NumPy scalar as the Python number it holds (for messages: ``0.0``, not
    ``np.float64(0.0)``)."""
    return value.item() if isinstance(value, np.generic) else value


@dataclass
class FitContext:
    """What one call of ``fit`` works with, resolved and checked before the first query."""

    X: object
    parts: object
    samples: object
    program: object
    y: np.ndarray
    counter: QueryCounter
    rng: np.random.RandomState
    loss_fn: object
    callbacks: list
    n_source: object = None

    @property
    def checkpoint_paths(self):
        return [c.path for c in self.callbacks if hasattr(c, "save") and hasattr(c, "path")]
