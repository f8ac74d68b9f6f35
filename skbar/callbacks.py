"""Callbacks: what a fit does beside its search (progress, checkpoints, cost, stopping).

Given as ``callbacks=[...]`` to :class:`~skbar.BlackBoxReprogrammingClassifier`. After
every step, each callback in turn gets ``(estimator, info)``, where ``info`` holds
``n_iter``, ``loss`` and ``n_queries`` and what earlier callbacks added to it (the
cost, for instance, which a progress bar after it then shows); a callback that returns
True stops the fit (``stop_reason_ == "callback"``), as in scikit-optimize. A plain
callable ``f(estimator, info)`` works as a callback too.

A :class:`Callback` subclass may also define :meth:`~Callback.on_fit_begin` and
:meth:`~Callback.on_fit_end` (called however the fit ends: finished, out of budget,
interrupted or failed), and :meth:`~Callback.initial_state` (what a fit resumes from, as
:class:`LoadInitState` does).
"""

import numbers
import os
import sys
import tempfile

from .fit._checkpoint import load_checkpoint, save_checkpoint


class Callback:
    """Base class of the callbacks: every hook does nothing."""

    def initial_state(self, estimator):
        """The state ``fit`` continues from (a dict as ``get_fit_state`` returns it, with
        the path it came from as ``(path, state)``), or None: asked before any query."""
        return None

    def on_fit_begin(self, estimator):
        """Before the first step of ``fit`` (after the first pass was paid for)."""

    def on_step_end(self, estimator, info):
        """After each step; return True to stop the fit."""
        return False

    def on_fit_end(self, estimator, info):
        """When ``fit`` ends, however it ends (also before the search began, while the
        first pass was paid for: then the estimator is not fitted yet)."""

    def __call__(self, estimator, info):
        return self.on_step_end(estimator, info)


class FunctionCallback(Callback):
    """A plain callable ``func(estimator, info)`` as a callback (returning True stops)."""

    def __init__(self, func):
        self.func = func

    def on_step_end(self, estimator, info):
        return self.func(estimator, info)


def check_checkpoints_writable(callbacks):
    """Let every :class:`CheckpointSaver` among ``callbacks`` check its path (before paying)."""
    for callback in callbacks:
        if isinstance(callback, CheckpointSaver):
            callback.check_writable()


def as_callbacks(callbacks):
    """``callbacks`` (None, one callable or a list) as a list of :class:`Callback`."""
    if callbacks is None:
        return []
    if callable(callbacks) and not isinstance(callbacks, (list, tuple)):
        callbacks = [callbacks]
    return [c if isinstance(c, Callback) else FunctionCallback(c) for c in callbacks]


class ProgressBar(Callback):
    """A progress bar of the queries spent, with the loss and the cost after each step.

    The bar fills up to ``max_queries``; its postfix shows the queries, the minibatch
    loss and, when a :class:`QueryCost` comes before it, the cost, then whatever else
    earlier callbacks put in ``info``. ``verbose=1`` adds one at the end of the
    estimator's callbacks.

    On a terminal (or in a Jupyter notebook) it is a tqdm bar, redrawn in place (tqdm is
    a dependency of skbar; without it, nothing is shown). Written to a file or a pipe, as
    in a log or a batch job, it prints a plain line each time another tenth of
    ``max_queries`` is spent (without a budget: after steps 1, 2, 5, 10, 20, 50, ...)
    and one when the fit ends, so a log gets a dozen lines, not a redraw per step.

    Parameters
    ----------
    file : file object, default=None
        Where to write; ``sys.stderr`` when None.
    """

    def __init__(self, file=None):
        self.file = file

    @staticmethod
    def postfix(info):
        """The postfix of the bar for a step's ``info``, as an ordered dict of strings.

        Examples
        --------
        >>> ProgressBar.postfix({"n_iter": 3, "n_queries": 12345, "loss": 0.5, "cost": 14.8})
        {'queries': '12,345', 'loss': '0.5000', 'cost': '14.80'}
        """
        postfix = {"queries": f"{info['n_queries']:,d}", "loss": f"{info['loss']:.4f}"}
        postfix.update({k: f"{v:.2f}" if isinstance(v, float) else str(v)
                        for k, v in info.items() if k not in ("n_iter", "loss", "n_queries")})
        return postfix

    def on_fit_begin(self, estimator):
        file = sys.stderr if self.file is None else self.file
        if not _interactive(file):
            self._bar = _LineProgress(estimator.max_queries, estimator.n_queries_, file)
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:  # progress is a nicety: never fail a fit for it
            self._bar = None
            return
        self._bar = tqdm(total=estimator.max_queries, initial=estimator.n_queries_,
                         desc="queries", unit="img", dynamic_ncols=True, file=file)

    def on_step_end(self, estimator, info):
        if self._bar is not None:
            self._show(info["n_queries"])
            self._bar.set_postfix(self.postfix(info))
        return False

    def on_fit_end(self, estimator, info):
        # A fit that stops during its first pass never began its search.
        if getattr(self, "_bar", None) is not None:
            self._show(info["n_queries"])
            if "shipped" in info:  # the last line says which program the fit ships
                self._bar.set_postfix(self.postfix(info))
            self._bar.close()
            self._bar = None

    def _show(self, n_queries):
        # Set, not added to: retries charged inside a step count too, and the bar must
        # end on what was spent (tqdm's update() may skip the redraw).
        self._bar.n = n_queries
        self._bar.refresh()


def _interactive(file):
    """Whether ``file`` redraws a bar in place: a terminal, or a notebook's output."""
    try:
        if file.isatty():
            return True
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False
    return file in (sys.stderr, sys.stdout) and "ipykernel" in sys.modules


class _LineProgress:
    """The part of tqdm's interface that :class:`ProgressBar` uses, printed as plain lines.

    A line each time ``n`` crosses another tenth of ``total`` (or, with no total, after
    the 1st, 2nd, 5th, 10th, 20th, ... postfix, one a step), and one on ``close``: what
    a log or a pipe should get instead of a carriage return a step.
    """

    #: Step counts after which a line is printed when there is no total.
    ROUND_STEPS = frozenset(m * 10**e for e in range(12) for m in (1, 2, 5))

    def __init__(self, total, initial, file):
        self.total, self.n, self.file = total, initial, file
        self._postfix, self._steps, self._mark, self._last = "", 0, -1, None

    def refresh(self):
        """Nothing: a line is printed when a step's postfix arrives, and on close."""

    def set_postfix(self, postfix):
        self._postfix = ", ".join(f"{k}={v}" for k, v in postfix.items())
        self._steps += 1
        if self.total:
            mark = min(10, 10 * self.n // self.total)
        else:
            mark = self._steps if self._steps in self.ROUND_STEPS else self._mark
        if mark > self._mark:
            self._mark = mark
            self._print()

    def close(self):
        self._print(again=False)

    def _print(self, again=True):
        line = (f"queries: {100 * self.n / self.total:3.0f}% {self.n}/{self.total}"
                if self.total else f"queries: {self.n}")
        line = f"{line} | {self._postfix}" if self._postfix else line
        if again or line != self._last:
            print(line, file=self.file, flush=True)
            self._last = line


class QueryCost(Callback):
    """The money a fit has spent at a price per 1,000 queries.

    Adds ``cost`` to ``info`` after each step (a :class:`ProgressBar` after it shows it)
    and keeps the total in ``cost_``.

    Parameters
    ----------
    per_1000 : float
        Price of 1,000 queries (images sent).
    """

    def __init__(self, per_1000):
        if not per_1000 >= 0:
            raise ValueError(f"per_1000 must be a non-negative price, got {per_1000!r}.")
        self.per_1000 = per_1000

    def cost(self, n_queries):
        return n_queries * self.per_1000 / 1000.0

    def on_step_end(self, estimator, info):
        self.cost_ = info["cost"] = self.cost(info["n_queries"])
        return False

    def on_fit_end(self, estimator, info):
        self.cost_ = info["cost"] = self.cost(info["n_queries"])


class CheckpointSaver(Callback):
    """Save everything a fit has paid for to an ``.npz`` file, and resume from it.

    The state (program, head, objective, optimiser, random stream, query count) is
    written atomically every ``every`` steps and when the fit ends, however it ends. A
    new estimator with ``warm_start=True`` and this callback continues from the file
    (when it has not been fitted in this process), without repeating the queries paid
    for, bit for bit; :class:`LoadInitState` resumes from it without ``warm_start``.

    Parameters
    ----------
    path : str or path-like
    every : int, default=10
        Steps between saves.
    """

    def __init__(self, path, every=10):
        if isinstance(every, bool) or not isinstance(every, numbers.Integral) or every < 1:
            raise ValueError(f"CheckpointSaver: every must be a positive whole number of "
                             f"steps, got {every!r}.")
        self.path = path
        self.every = every

    def on_step_end(self, estimator, info):
        if info["n_iter"] % self.every == 0:
            self.save(estimator)
        return False

    def on_fit_end(self, estimator, info):
        if estimator.__sklearn_is_fitted__():  # else nothing was learned yet
            self.save(estimator)

    def initial_state(self, estimator):
        # With warm_start, a fit not yet fitted in this process continues from the file.
        if not estimator.warm_start or estimator.__sklearn_is_fitted__():
            return None
        state = self.load()
        return None if state is None else (self.path, state)

    def save(self, estimator):
        save_checkpoint(self.path, estimator.get_fit_state())

    def check_writable(self):
        """Raise ``OSError`` now if :meth:`save` could not write ``path`` later.

        Called by ``fit`` before any query: a checkpoint that cannot be written would
        otherwise be found out only after the first ``every`` steps were paid for.
        """
        path = os.fspath(self.path)
        folder = os.path.dirname(os.path.abspath(path))
        try:
            if os.path.isdir(path):
                raise IsADirectoryError(f"{path!r} is a folder")
            os.makedirs(folder, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            return
        raise OSError(f"CheckpointSaver cannot write {path!r} ({problem}); nothing was "
                      "queried yet. Give it a path in a writable folder.")

    def load(self):
        """The saved state, or None when there is no file yet."""
        if not os.path.exists(self.path):
            return None
        return load_checkpoint(self.path)


class LoadInitState(Callback):
    """Resume a fit from a checkpoint file, where one exists (skorch's ``LoadInitState``).

    The fit continues from the file's program, head, optimiser, random stream and query
    count, without repeating the queries paid for, whether or not ``warm_start`` is set;
    with no file yet, it starts afresh. The file is checked whole before any query
    (:func:`skbar.fit.check_resume`).

    Parameters
    ----------
    checkpoint : CheckpointSaver or str or path-like
        The saver whose file to read, or the file's path.

    Examples
    --------
    >>> saver = CheckpointSaver("fit.npz")
    >>> callbacks = [saver, LoadInitState(saver)]
    """

    def __init__(self, checkpoint):
        self.checkpoint = checkpoint

    def initial_state(self, estimator):
        if estimator.__sklearn_is_fitted__() and estimator.warm_start:
            return None  # the fit in this process goes on
        path = getattr(self.checkpoint, "path", self.checkpoint)
        if not os.path.exists(path):
            return None
        return path, load_checkpoint(path)
