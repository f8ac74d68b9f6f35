"""Plots of a reprogrammer, as scikit-learn draws them: display objects on matplotlib.

Each display is made by a ``from_*`` class method (``from_estimator``, ``from_results``)
and drawn by ``plot(ax=None)``; it keeps what it drew in attributes ending in an
underscore (``ax_``, ``figure_``, ...), so a figure can be restyled afterwards.

- :class:`ReprogrammingDisplay`: the learned program and samples as the oracle sees them;
- :class:`QueryCurveDisplay`: the training loss or the test accuracy against the queries
  spent, for one fit or for the runs of ``benchmarks/query_efficiency.py``;
- :class:`LabelMappingDisplay`: the source labels each target class reads.

matplotlib is an optional dependency (``pip install "skbar[plot]"``): importing this
module does not import it, drawing does. :func:`save_image_grid` writes canvases as a raw
PNG with Pillow alone.
"""

import json
import os

import numpy as np

__all__ = [
    "LabelMappingDisplay",
    "QueryCurveDisplay",
    "ReprogrammingDisplay",
    "program_image",
    "save_image_grid",
]

#: The fill of the sample's window in a picture of the program alone.
_GREY = 0.5


def _pyplot(caller):
    """``matplotlib.pyplot``, or an ImportError that says how to install it."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs matplotlib; install it with: pip install \"skbar[plot]\""
        ) from exc
    return plt


def _show(ax, image):
    """Draw one canvas ``(H, W, C)`` in ``[0, 1]`` on ``ax``, without ticks."""
    image = np.clip(np.asarray(image, dtype=float), 0.0, 1.0)
    if image.ndim == 3 and image.shape[-1] == 1:
        drawn = ax.imshow(image[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        drawn = ax.imshow(image, vmin=0.0, vmax=1.0)
    ax.set_xticks([])
    ax.set_yticks([])
    return drawn


def program_image(estimator, canvas):
    """The program alone: ``canvas`` over the frame, grey over the sample's window.

    Parameters
    ----------
    estimator : BlackBoxReprogrammingClassifier
        A fitted reprogrammer (its ``mask_`` is used).
    canvas : ndarray of shape (H, W, C)
        One reprogrammed sample, from :meth:`~skbar.BlackBoxReprogrammingClassifier.reprogram`.

    Returns
    -------
    ndarray of shape (H, W, C)
    """
    mask = estimator.mask_
    return canvas * mask + _GREY * (1 - mask)


class ReprogrammingDisplay:
    """The learned program and reprogrammed samples, with their predicted labels.

    The first panel is the program ``P = tanh(W ⊙ M)`` over the frame (grey where the
    sample goes); each other panel is one canvas ``X~ = pad(T) + P`` exactly as the oracle
    receives it, captioned with the predicted (and true) label. Build it with
    :meth:`from_estimator`.

    Parameters
    ----------
    program : ndarray of shape (H, W, C)
        The program alone, in ``[0, 1]``.
    canvases : ndarray of shape (n_samples, H, W, C)
        Reprogrammed samples, in ``[0, 1]``.
    predicted : array-like of shape (n_samples,), default=None
        Predicted labels, shown under each canvas.
    true : array-like of shape (n_samples,), default=None
        True labels, shown beside the predictions.
    label_names : mapping, default=None
        Display names of the target labels.
    mask : ndarray of shape (H, W, C), default=None
        ``M``: 1 over the frame, 0 over the sample's window; needed to stretch the
        program's contrast (see :meth:`plot`).

    Attributes
    ----------
    axes_ : ndarray of matplotlib Axes
        The panels drawn on: the program first, then one per canvas.
    images_ : list of matplotlib AxesImage
    figure_ : matplotlib Figure

    See Also
    --------
    LabelMappingDisplay : The source labels each target class reads.
    save_image_grid : The same canvases as a raw PNG, with Pillow alone.

    Examples
    --------
    >>> import numpy as np
    >>> from skbar import BlackBoxReprogrammingClassifier
    >>> from skbar.oracles import RandomNetworkOracle
    >>> from skbar.plotting import ReprogrammingDisplay
    >>> rng = np.random.RandomState(0)
    >>> X, y = rng.rand(40, 16), np.repeat([0, 1], 20)
    >>> oracle = RandomNetworkOracle(input_shape=(8, 8, 1), n_classes=10)
    >>> clf = BlackBoxReprogrammingClassifier(oracle, max_iter=2, random_state=0).fit(X, y)
    >>> display = ReprogrammingDisplay.from_estimator(clf, X[:4], y[:4])
    >>> len(display.axes_)  # the program, then the four canvases
    5
    """

    def __init__(self, program, canvases, *, predicted=None, true=None, label_names=None,
                 mask=None):
        self.program = program
        self.mask = mask
        self.canvases = canvases
        self.predicted = predicted
        self.true = true
        self.label_names = label_names

    def _caption(self, i):
        if self.predicted is None:
            return ""
        name = self.predicted[i]
        if self.label_names is not None:
            name = self.label_names.get(name, name)
        caption = f"pred {name}"
        if self.true is not None:
            caption += f" (true {self.true[i]})"
        return caption

    def plot(self, ax=None, *, n_cols=5, stretch=True):
        """Draw the program and the canvases.

        Parameters
        ----------
        ax : array-like of matplotlib Axes, default=None
            One Axes per panel (``1 + n_samples``); None makes a new figure with a grid
            of ``n_cols`` columns.
        n_cols : int, default=5
            Columns of the new figure's grid (used when ``ax`` is None).
        stretch : bool, default=True
            Stretch the program panel's contrast: its frame mapped from its own lowest
            to its highest value onto ``[0, 1]``, so that a program of small amplitude
            (the usual case early in a search) is visible. The canvases are always
            drawn as they are sent. Needs ``mask``.

        Returns
        -------
        self : ReprogrammingDisplay
        """
        plt = _pyplot("ReprogrammingDisplay.plot")
        n_panels = 1 + len(self.canvases)
        if ax is None:
            n_cols = min(n_cols, n_panels)
            n_rows = -(-n_panels // n_cols)
            fig, grid = plt.subplots(n_rows, n_cols, figsize=(2.0 * n_cols, 2.3 * n_rows),
                                     squeeze=False)
            axes = grid.ravel()
            for extra in axes[n_panels:]:
                extra.set_axis_off()
            axes = axes[:n_panels]
        else:
            axes = np.asarray(ax, dtype=object).ravel()
            if axes.size != n_panels:
                raise ValueError(f"ax has {axes.size} Axes but {n_panels} panels are drawn "
                                 f"(the program and {n_panels - 1} canvases).")
            fig = axes[0].figure
        program, title = np.asarray(self.program, dtype=float), "program P"
        if stretch and self.mask is not None:
            frame = np.asarray(self.mask) > 0
            low, high = program[frame].min(), program[frame].max()
            if high > low:
                program = np.where(frame, (program - low) / (high - low), _GREY)
                title = "program P (stretched)"
        self.images_ = [_show(axes[0], program)]
        axes[0].set_title(title, fontsize=9)
        for i, (axis, canvas) in enumerate(zip(axes[1:], self.canvases)):
            self.images_.append(_show(axis, canvas))
            axis.set_title(self._caption(i), fontsize=9)
        self.axes_, self.figure_ = axes, fig
        return self

    @classmethod
    def from_estimator(cls, estimator, X, y=None, *, label_names=None, ax=None, n_cols=5,
                       stretch=True):
        """The program of a fitted reprogrammer and the samples ``X`` under it.

        Parameters
        ----------
        estimator : BlackBoxReprogrammingClassifier
            A fitted reprogrammer.
        X : array-like of shape (n_samples, ...)
            A few target samples (each costs one query, for its prediction).
        y : array-like of shape (n_samples,), default=None
            Their true labels.
        label_names : mapping, default=None
            Display names of the target labels.
        ax : array-like of matplotlib Axes, default=None
            See :meth:`plot`.
        n_cols : int, default=5
            See :meth:`plot`.
        stretch : bool, default=True
            See :meth:`plot`.

        Returns
        -------
        display : ReprogrammingDisplay
        """
        canvases = estimator.reprogram(X)
        if len(canvases) == 0:
            raise ValueError("X has no samples; pass at least one to show the program.")
        display = cls(
            program_image(estimator, canvases[0]),
            canvases,
            predicted=estimator.predict(X),
            true=None if y is None else np.asarray(y),
            label_names=label_names,
            mask=estimator.mask_,
        )
        return display.plot(ax=ax, n_cols=n_cols, stretch=stretch)


class QueryCurveDisplay:
    """A score against the queries spent: a fit's training loss, or a benchmark's accuracy.

    Each curve is a line through its mean with a band from its lowest to its highest
    value (over seeds) where it has one; a baseline that spends a fixed number of
    queries (a linear probe) is a dashed horizontal line. Build it with
    :meth:`from_estimator` or :meth:`from_results`.

    Parameters
    ----------
    curves : dict of str to dict
        ``{name: {"queries": ..., "score": ..., "lower": ..., "upper": ...}}``, arrays of
        one length; ``lower`` and ``upper`` (the band) are optional.
    baselines : dict of str to float, default=None
        Flat lines, ``{name: score}``.
    score_name : str, default="score"
        Label of the y axis.
    title : str, default=None
    log_queries : bool, default=False
        Queries on a log scale.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    lines_ : dict of str to matplotlib Line2D
        One per curve and per baseline.
    bands_ : dict of str to matplotlib PolyCollection
        The bands of the curves that have one.

    See Also
    --------
    skbar.BlackBoxReprogrammingClassifier.queries_per_step : What one step costs.
    """

    def __init__(self, curves, *, baselines=None, score_name="score", title=None,
                 log_queries=False):
        self.curves = curves
        self.baselines = baselines
        self.score_name = score_name
        self.title = title
        self.log_queries = log_queries

    def plot(self, ax=None, *, legend=True, colors=None):
        """Draw the curves.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; None makes a new figure.
        legend : bool, default=True
        colors : dict of str to color, default=None
            The colour of each named curve (the others take matplotlib's cycle), so that
            a method has one colour across several panels.

        Returns
        -------
        self : QueryCurveDisplay
        """
        plt = _pyplot("QueryCurveDisplay.plot")
        if ax is None:
            _, ax = plt.subplots(figsize=(6.0, 4.0))
        self.lines_, self.bands_ = {}, {}
        for name, curve in self.curves.items():
            queries = np.asarray(curve["queries"], dtype=float)
            style = {} if colors is None or name not in colors else {"color": colors[name]}
            (line,) = ax.plot(queries, curve["score"], marker="o" if queries.size < 30 else None,
                              markersize=3, label=name, **style)
            self.lines_[name] = line
            if curve.get("lower") is not None and curve.get("upper") is not None:
                self.bands_[name] = ax.fill_between(queries, curve["lower"], curve["upper"],
                                                    color=line.get_color(), alpha=0.2,
                                                    linewidth=0)
        for k, (name, score) in enumerate((self.baselines or {}).items()):
            self.lines_[name] = ax.axhline(score, linestyle="--", linewidth=1.2, label=name,
                                           color=f"{0.1 + 0.25 * (k % 3):.2f}")
        if self.log_queries:
            ax.set_xscale("log")
        ax.set_xlabel("queries")
        ax.set_ylabel(self.score_name)
        if self.title:
            ax.set_title(self.title)
        ax.grid(True, alpha=0.3)
        if legend and self.lines_:
            ax.legend(fontsize=8)
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, n_samples=None, name=None, ax=None):
        """The training loss of a fitted reprogrammer at each step, against its queries.

        Step ``k``'s minibatch loss (``loss_curve_[k]``, measured before the step) is
        drawn at the queries the search had spent when the step ended,
        ``(k + 1) * queries_per_step``. The one-off passes of the head (one
        query per training sample and view, before the search and after it) are not on this axis;
        ``n_queries_`` counts them.

        Parameters
        ----------
        estimator : BlackBoxReprogrammingClassifier
            A fitted reprogrammer.
        n_samples : int, default=None
            The number of training samples, needed only when it was below ``batch_size``
            (a step then sends ``n_samples`` canvases per evaluation).
        name : str, default=None
            Legend label; the estimator's class name by default.
        ax : matplotlib Axes, default=None

        Returns
        -------
        display : QueryCurveDisplay
        """
        losses = np.asarray(estimator.loss_curve_, dtype=float)
        batch = estimator.batch_size if n_samples is None else min(estimator.batch_size,
                                                                   n_samples)
        step_cost = estimator.optimizer_.n_evaluations(estimator.q_, estimator.gradient_) * batch
        queries = step_cost * np.arange(1, losses.size + 1)
        name = type(estimator).__name__ if name is None else name
        display = cls({name: {"queries": queries, "score": losses}},
                      score_name="training loss (minibatch)")
        return display.plot(ax=ax)

    @classmethod
    def from_results(cls, results, task, *, methods=None, ax=None, legend=True, colors=None):
        """Test accuracy against queries, from the runs of ``benchmarks/query_efficiency.py``.

        Parameters
        ----------
        results : str, path-like or iterable of dict
            The benchmark's JSON-lines file (``benchmarks/results/query_efficiency.jsonl``)
            or its rows: a run is ``{"task", "method", "seed", "points": [{"budget",
            "queries", "accuracy"}, ...]}``, a baseline ``{"task", "method", "queries",
            "accuracy"}``.
        task : str
            The task to draw (``"digits"``, ``"asd"``, ...).
        methods : list of str, default=None
            The methods to draw as curves, in this order; all by default. Baselines are
            always drawn.
        ax : matplotlib Axes, default=None
        legend : bool, default=True
        colors : dict of str to color, default=None
            See :meth:`plot`.

        Returns
        -------
        display : QueryCurveDisplay
        """
        if isinstance(results, (str, os.PathLike)):
            with open(results) as f:
                results = [json.loads(line) for line in f if line.strip()]
        runs, flat = {}, {}
        for row in results:
            if row.get("task") != task:
                continue
            if "points" in row:
                runs.setdefault(row["method"], []).extend(row["points"])
            elif "accuracy" in row:
                flat.setdefault(row["method"], []).append(row["accuracy"])
        if not runs and not flat:
            raise ValueError(f"The results hold no run of the task {task!r}.")
        order = sorted(runs) if methods is None else [m for m in methods if m in runs]
        curves = {}
        for method in order:
            budgets = sorted({p["budget"] for p in runs[method]})
            at = [[p for p in runs[method] if p["budget"] == b] for b in budgets]
            accuracy = [np.array([p["accuracy"] for p in points]) for points in at]
            curves[method] = {
                "queries": [np.mean([p["queries"] for p in points]) for points in at],
                "score": [a.mean() for a in accuracy],
                "lower": [a.min() for a in accuracy],
                "upper": [a.max() for a in accuracy],
            }
        baselines = {method: float(np.mean(values)) for method, values in sorted(flat.items())}
        display = cls(curves, baselines=baselines, score_name="test accuracy", title=task,
                      log_queries=True)
        return display.plot(ax=ax, legend=legend, colors=colors)


class LabelMappingDisplay:
    """The source labels each target class reads, and the weight it gives each.

    One row per target class and one cell per mapped source label (``label_map_``),
    named and coloured by its weight: the coefficient of a learned head
    (:class:`~skbar.heads.LinearHead`), or ``1 / m`` under the multi-label
    average. Build it with :meth:`from_estimator`.

    Parameters
    ----------
    label_map : ndarray of shape (n_classes, m)
        Source-label indices of each target class.
    weights : ndarray of shape (n_classes, m), default=None
        The weight of each mapped label; ``1 / m`` everywhere by default.
    target_names : list of str, default=None
        Names of the target classes (the rows).
    source_names : list of str, default=None
        Names of all the source labels, indexed like the oracle's outputs; the indices
        are shown by default.

    Attributes
    ----------
    ax_ : matplotlib Axes
    figure_ : matplotlib Figure
    image_ : matplotlib AxesImage
    texts_ : ndarray of shape (n_classes, m) of matplotlib Text
        The name in each cell.
    """

    def __init__(self, label_map, *, weights=None, target_names=None, source_names=None):
        self.label_map = label_map
        self.weights = weights
        self.target_names = target_names
        self.source_names = source_names

    def plot(self, ax=None, *, cmap="viridis", colorbar=True, max_chars=16):
        """Draw the mapping as a table of names over a colour map of the weights.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Where to draw; None makes a new figure sized to the table.
        cmap : str or matplotlib Colormap, default="viridis"
        colorbar : bool, default=True
        max_chars : int, default=16
            Source names longer than this are cut (with an ellipsis).

        Returns
        -------
        self : LabelMappingDisplay
        """
        plt = _pyplot("LabelMappingDisplay.plot")
        label_map = np.asarray(self.label_map)
        n_classes, m = label_map.shape
        weights = (np.full(label_map.shape, 1.0 / m) if self.weights is None
                   else np.asarray(self.weights, dtype=float))
        if ax is None:
            _, ax = plt.subplots(figsize=(1.3 + 1.25 * m, 0.9 + 0.38 * n_classes))
        self.image_ = ax.imshow(weights, cmap=cmap, aspect="auto")
        cmap_ = self.image_.cmap
        norm = self.image_.norm
        self.texts_ = np.empty(label_map.shape, dtype=object)
        for c in range(n_classes):
            for j in range(m):
                source = int(label_map[c, j])
                name = str(source) if self.source_names is None else str(self.source_names[source])
                if len(name) > max_chars:
                    name = name[:max_chars - 1] + "…"
                # Dark text on light cells, light text on dark ones.
                red, green, blue, _ = cmap_(norm(weights[c, j]))
                dark = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5
                self.texts_[c, j] = ax.text(j, c, name, ha="center", va="center", fontsize=7,
                                            color="black" if dark else "white")
        rows = (self.target_names if self.target_names is not None
                else [str(c) for c in range(n_classes)])
        ax.set_yticks(range(n_classes), [str(r) for r in rows])
        ax.set_xticks(range(m), [str(j + 1) for j in range(m)])
        ax.set_xlabel("mapped source label (rank)")
        ax.set_ylabel("target class")
        if colorbar:
            ax.figure.colorbar(self.image_, ax=ax, label="weight")
        self.ax_, self.figure_ = ax, ax.figure
        return self

    @classmethod
    def from_estimator(cls, estimator, *, source_names=None, ax=None, **kwargs):
        """The label mapping of a fitted reprogrammer.

        Parameters
        ----------
        estimator : BlackBoxReprogrammingClassifier
            A fitted reprogrammer.
        source_names : list of str or "imagenet", default=None
            Names of the source labels; ``"imagenet"`` reads the 1000 ImageNet-1k names
            (:func:`skbar.zoo.imagenet_class_names`), as the zoo's models output.
        ax : matplotlib Axes, default=None
        **kwargs
            Passed to :meth:`plot`.

        Returns
        -------
        display : LabelMappingDisplay
        """
        label_map = np.asarray(estimator.label_map_)
        coef = getattr(estimator.head_, "coef_", None)
        weights = None
        if coef is not None:
            weights = np.take_along_axis(np.asarray(coef), label_map, axis=1)
        if isinstance(source_names, str) and source_names == "imagenet":
            from .zoo import imagenet_class_names

            source_names = imagenet_class_names()
        display = cls(label_map, weights=weights, source_names=source_names,
                      target_names=[str(c) for c in estimator.classes_])
        return display.plot(ax=ax, **kwargs)


def save_image_grid(images, path, *, n_cols=5, gap=2):
    """Write images ``(n, H, W, C)`` in ``[0, 1]`` side by side as one PNG, with Pillow.

    A raw picture (no captions, no matplotlib): the canvases of
    :meth:`~skbar.BlackBoxReprogrammingClassifier.reprogram`, pixel for pixel.

    Parameters
    ----------
    images : array-like of shape (n, H, W, C) or (n, H, W)
    path : str or path-like
    n_cols : int, default=5
    gap : int, default=2
        White pixels between images.

    Returns
    -------
    path : str or path-like
        ``path``.
    """
    from PIL import Image

    images = np.asarray(images, dtype=float)
    if images.ndim == 3:
        images = images[..., None]
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    n, height, width, _ = images.shape
    n_cols = min(n_cols, n)
    n_rows = -(-n // n_cols)
    sheet = np.ones((n_rows * (height + gap) - gap, n_cols * (width + gap) - gap, 3))
    for k, image in enumerate(images):
        top, left = (k // n_cols) * (height + gap), (k % n_cols) * (width + gap)
        sheet[top:top + height, left:left + width] = image[..., :3]
    Image.fromarray(np.clip(sheet * 255 + 0.5, 0, 255).astype(np.uint8)).save(path)
    return path
