"""Batches sent in turn, the next one composed while the oracle answers this one.

A fit sends one batch after another, and between two calls composes the next batch and
reads the last answers. Where the oracle runs outside Python's lock (ONNX Runtime
releases it while the model runs, on the CPU as on a GPU), that work need not wait for
the model: :class:`InTurn` runs the oracle in one worker thread and lets the caller
compose the next batch meanwhile. The calls stay one at a time and in order, and a
batch is sent only once the answer before it came back, so the oracle sees exactly the
calls it would see without the worker, and an error stops the sending at the same batch.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

from ._canvas import _called

#: Each calling thread's worker, kept from one fit, pass or prediction to the next: a
#: runtime may set up per-thread state on a thread's first run (ONNX Runtime's CUDA
#: provider makes its cuBLAS and cuDNN handles), which a new thread each time would pay
#: again.
_workers = threading.local()


def _worker():
    """The worker thread of the calling thread (a one-thread pool), made on first use, and
    made again in a forked child, where the parent's thread does not run."""
    pool, pid = getattr(_workers, "pool", None), getattr(_workers, "pid", None)
    if pool is None or pid != os.getpid():
        pool = _workers.pool = ThreadPoolExecutor(1, thread_name_prefix="skbar-oracle")
        _workers.pid = os.getpid()
    return pool


def answers_off_thread(ask):
    """Whether the oracle ``ask`` calls (itself, or the one a query counter wraps) says
    that it may answer in a worker thread while skbar works: a true ``releases_gil``
    attribute, as :class:`~skbar.oracles.OnnxOracle` has."""
    return bool(getattr(_called(ask), "releases_gil", False))


class InTurn:
    """Sends batches to ``ask`` in turn, each answered while the next is composed.

    Use it as a context manager: leaving the ``with`` block, by an error too, waits for
    the call in flight, so no call outlives the fit that made it. The worker is the
    calling thread's own, kept for its next fit, pass or prediction.

    Parameters
    ----------
    ask : callable
        A batch to its answers: the oracle, or a query counter around it.
    overlap : bool or None, default=None
        Answer in a worker thread while the caller composes the next batch, or send
        each batch from the caller's thread; None: a worker where the oracle allows one
        (:func:`answers_off_thread`).

    Attributes
    ----------
    in_flight : int
        How many batches a caller must keep intact at once: 2 with a worker (the one
        being answered and the one being composed), else 1.
    """

    def __init__(self, ask, overlap=None):
        self.ask = ask
        overlap = answers_off_thread(ask) if overlap is None else bool(overlap)
        self._pool = _worker() if overlap else None
        self._pending = None  # the call in flight
        self.in_flight = 2 if overlap else 1

    def answers(self, batches):
        """The answers of each batch of the iterable ``batches``, in order (a generator).

        ``batches`` is advanced, which composes the next batch, while the worker answers
        the one before; the caller reads each answer while the worker answers the next.
        """
        if self._pool is None:
            for batch in batches:
                yield self.ask(batch)
            return
        sent = False  # whether a batch of these is in flight
        for batch in batches:
            if not sent:
                self._pending, sent = self._pool.submit(self.ask, batch), True
                continue
            answer = self._pending.result()  # the answer before this batch is back: send it
            self._pending = self._pool.submit(self.ask, batch)
            yield answer
        if sent:
            answer, self._pending = self._pending.result(), None
            yield answer

    def close(self):
        """Wait for the call in flight, if any (the worker stays, for the next use)."""
        if self._pending is not None:
            wait([self._pending])
            self._pending = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

