"""One fit's queries spread over a Dask cluster: each worker answers a part of every batch.

Each worker builds its own replica of the source model once (an ONNX Runtime session, an
HTTP connection pool) from a picklable oracle or factory, and keeps it for every later
batch. The batch is cut into contiguous parts, one per worker, and the answers are put
back together in order, so the estimator sees the same scores as from one process and a
seeded fit gives the same program. Dask is imported only when a batch is sent.
"""

import itertools
import pickle
import uuid

import numpy as np

from ._base import OracleError, oracle_input_shape
from ._http import HttpOracle

#: Replicas built on this process's workers, by (oracle token, worker address).
_REPLICAS = {}
_TOKENS = itertools.count()


def _replica(token, payload):
    """This worker's replica of the oracle, built from ``payload`` on first use."""
    from distributed import get_worker

    key = (token, get_worker().address)
    if key not in _REPLICAS:
        kind, obj = pickle.loads(payload)
        _REPLICAS[key] = obj() if kind == "factory" else obj
    return _REPLICAS[key]


class ReplicaError(Exception):
    """A part was not answered: ``args`` are the worker's address, what happened, and
    whether sending the part to another worker would fail the same way (a refused key)."""


#: Statuses a replica's :class:`OracleError` may carry (``status_code``) that no other
#: worker would be answered otherwise: the key is missing or wrong.
_REFUSED = (401, 403)


def _claim(name):
    """Mark the part ``name`` as sent to the model, or raise if it was already.

    Dask's scheduler runs a task again, unseen by the client, when the worker running
    it (or holding its result) is lost, up to ``allowed-failures`` times. The first run
    may have reached the model, so a second run must not send the part again unpaid.
    The mark lives on the scheduler (a :class:`distributed.Event`), which outlives the
    worker; runs of one task never overlap, so test-then-set is enough.
    """
    from distributed import Event, get_worker

    event = Event(name)
    if event.is_set():
        raise ReplicaError(get_worker().address,
                           "the scheduler ran the part again after its worker was lost "
                           "(the first run may have reached the model); refused", False)
    event.set()


def _answer(token, payload, canvases, claim):
    """The replica's raw scores for one part of a batch (checked by the estimator)."""
    from distributed import get_worker

    _claim(claim)
    try:
        replica = _replica(token, payload)
        fn = replica.predict_proba if hasattr(replica, "predict_proba") else replica
        if getattr(replica, "charges_queries", False):
            # The images were charged on the client, once per part sent (see DaskOracle).
            return np.asarray(fn(canvases, charge=None))
        return np.asarray(fn(canvases))
    except Exception as exc:
        refused = getattr(exc, "status_code", None) in _REFUSED
        raise ReplicaError(get_worker().address, f"{type(exc).__name__}: {exc}",
                           refused) from None


def _describe(token, payload):
    replica = _replica(token, payload)
    return oracle_input_shape(replica), getattr(replica, "n_classes", None)


def _forget(token):
    for key in [key for key in _REPLICAS if key[0] == token]:
        del _REPLICAS[key]


class DaskOracle:
    """An oracle whose every batch is split across the workers of a Dask cluster.

    Each worker holds its own replica of the source model, built once from ``oracle``
    (pickled: an :class:`~skbar.oracles.OnnxOracle` travels as its file path and opens
    its own session, an :class:`~skbar.oracles.HttpOracle` as its endpoint and opens its
    own connections) or from ``factory()``. A batch of ``n`` canvases is cut into
    contiguous parts, one per worker (``n_parts``), sent at once, and the answers are
    concatenated in order: the estimator, its query count and its budget see one oracle.

    Parameters
    ----------
    oracle : object, default=None
        A picklable oracle (anything :func:`~skbar.oracles.call_oracle` takes).
    factory : callable, default=None
        Instead of ``oracle``: ``factory()`` builds the oracle on each worker (for a
        model that cannot be pickled). Give ``input_shape``, or it is asked of a worker.
    client : distributed.Client, default=None
        The cluster; None uses the current client (``distributed.get_client()``).
    n_parts : int, default=None
        Parts per batch; None is the number of workers when the batch is sent.
    failover : int, default=1
        How many times a part whose worker was lost, or whose replica raised, is sent
        again, to another worker where there is one, before the call raises
        :class:`~skbar.oracles.OracleError`. Each resend is charged again.
    input_shape : tuple of int, default=None
        The canvas ``(H, W, C)``; None reads it from ``oracle`` (or a worker's replica).

    Attributes
    ----------
    n_images : int
        Images sent to the workers, resends included.
    n_failovers : int
        Parts sent again after a lost worker or a failed replica.

    Notes
    -----
    Every image is charged before it leaves, once per part sent, so a
    :class:`~skbar.oracles.QueryCounter` (every fit wraps its oracle in one) counts
    exactly and refuses a batch, or a resend, that would pass ``max_queries``. A replica
    that retries on its own (:class:`~skbar.oracles.HttpOracle`) is not charged for its
    retries on the worker.

    Dask's scheduler runs a task again on its own, unseen by the client, when the
    worker running it dies (up to ``distributed.scheduler.allowed-failures`` times).
    The first run may have reached the model, so each part marks itself on the
    scheduler before it calls the replica, and a second run of it finds the mark and
    is refused without calling the replica; the part then goes through ``failover``,
    charged. The budget holds whatever the cluster's ``allowed-failures``: nothing
    needs setting on a shared cluster. A part refused by an HTTP replica with 401 or
    403 (a missing or wrong key) is not sent to another worker: an
    :class:`~skbar.oracles.OracleError` at once.

    An :class:`~skbar.oracles.HttpOracle` given an ``api_key`` is refused: keys are
    never pickled, so the workers would have none. Set the key in the workers'
    environment (``api_key_env``), or pass a ``factory`` that reads it on the worker.

    Examples
    --------
    >>> from distributed import Client, LocalCluster  # doctest: +SKIP
    >>> client = Client(LocalCluster(n_workers=4))  # doctest: +SKIP
    >>> oracle = DaskOracle(OnnxOracle("model.onnx"), client=client)  # doctest: +SKIP
    >>> BlackBoxReprogrammingClassifier(oracle).fit(X, y)  # doctest: +SKIP
    """

    charges_queries = True

    def __init__(self, oracle=None, *, factory=None, client=None, n_parts=None, failover=1,
                 input_shape=None):
        if (oracle is None) == (factory is None):
            raise ValueError("Give DaskOracle one of oracle= or factory=.")
        if factory is not None and not callable(factory):
            raise TypeError(f"factory must be callable, got {type(factory).__name__}.")
        if isinstance(oracle, HttpOracle) and oracle.api_key:
            # Pickles carry no key: every worker would be refused, every part paid for.
            raise ValueError(
                "DaskOracle cannot send HttpOracle's api_key to the workers (a key is never "
                "pickled). Give each worker the key itself: set the environment variable "
                f"{oracle.api_key_env or 'SKBAR_API_KEY'} (api_key_env) on the workers and "
                "pass the HttpOracle without api_key=, or pass factory=, a function that "
                "builds the HttpOracle on the worker and reads the key there (from the "
                "worker's environment or a secret file).")
        self.oracle = oracle
        self.factory = factory
        self.client = client
        self.n_parts = n_parts
        self.failover = int(failover)
        self._input_shape = None if input_shape is None else tuple(input_shape)
        self._n_classes = None
        self._token = f"skbar-dask-oracle-{next(_TOKENS)}-{id(self)}"
        self._shipped = None
        self.n_images = 0
        self.n_failovers = 0

    def __getstate__(self):
        # A client and the future of the shipped model belong to this process.
        state = self.__dict__.copy()
        state["client"] = None
        state["_shipped"] = None
        return state

    # ----------------------------------------------------------- the cluster

    def _client(self):
        if self.client is not None:
            return self.client
        from distributed import get_client

        try:
            return get_client()
        except ValueError as exc:
            raise OracleError(
                "DaskOracle has no cluster: pass client=distributed.Client(...), or create "
                "one before the fit.") from exc

    def _ship(self, client):
        """The pickled model, sent once to every worker (a future the tasks read)."""
        if self._shipped is None or self._shipped[0] is not client:
            kind, obj = ("oracle", self.oracle) if self.oracle is not None else (
                "factory", self.factory)
            try:
                import cloudpickle as pickler  # lambdas and local functions too
            except ImportError:  # pragma: no cover - distributed depends on cloudpickle
                pickler = pickle
            payload = pickler.dumps((kind, obj))
            future = client.scatter(payload, broadcast=True, hash=False)
            self._shipped = (client, future)
        return self._shipped[1]

    def _describe(self):
        if self._input_shape is None and self.oracle is not None:
            self._input_shape = oracle_input_shape(self.oracle)
            self._n_classes = getattr(self.oracle, "n_classes", None)
        if self._input_shape is None:
            client = self._client()
            shape, n_classes = client.submit(_describe, self._token, self._ship(client),
                                             pure=False).result()
            self._input_shape, self._n_classes = tuple(shape), n_classes

    @property
    def input_shape(self):
        self._describe()
        return self._input_shape

    @property
    def n_classes(self):
        if self.oracle is not None:
            return getattr(self.oracle, "n_classes", None)
        self._describe()
        return self._n_classes

    def close(self):
        """Drop the workers' replicas (they are rebuilt if the oracle is used again)."""
        if self._shipped is not None:
            self._shipped[0].run(_forget, self._token)
            self._shipped = None

    # --------------------------------------------------------------- queries

    def predict_proba(self, canvases, charge=None):
        """Scores ``(n, K)`` of ``canvases``, each part answered by one worker.

        Parameters
        ----------
        canvases : ndarray of shape (n, H, W, C)
        charge : callable, default=None
            ``charge(n_images)`` before each part leaves (the fit's budget).

        Raises
        ------
        OracleError
            If a part could not be answered after ``failover`` resends.
        BudgetExhausted
            If a resend would pass the budget; nothing more is sent.
        """
        from distributed import Event

        canvases = np.asarray(canvases)
        client = self._client()
        payload = self._ship(client)
        live = sorted(client.scheduler_info()["workers"])
        n_parts = self.n_parts or max(1, len(live))
        parts = np.array_split(canvases, min(n_parts, max(1, len(canvases))))
        if charge is not None:
            charge(len(canvases))
        self.n_images += len(canvases)
        claims = []

        def submit(part, workers):
            # retries=0: a part that raised is resent by the loop below, charged; a
            # part the scheduler reruns on its own is refused by its claim (_claim).
            claims.append(f"{self._token}-part-{uuid.uuid4().hex}")
            return client.submit(_answer, self._token, payload, part, claims[-1], pure=False,
                                 retries=0, **_placement(workers))

        try:
            return self._send(client, canvases, parts, live, submit, charge)
        finally:
            for name in claims:
                Event(name, client=client).clear()

    def _send(self, client, canvases, parts, live, submit, charge):
        # Part i to worker i, round robin: the scheduler alone may queue several parts on
        # one idle worker, and a latency-bound model gains only if they run side by side.
        futures = [submit(part, [live[i % len(live)]] if live else None)
                   for i, part in enumerate(parts)]
        answers = [None] * len(parts)
        for attempt in range(self.failover + 1):
            _settle(futures)
            failed = []
            for i, future in enumerate(futures):
                if future is None:
                    continue
                if future.status == "finished":
                    answers[i] = future.result()
                else:
                    failed.append((i, future))
            if not failed:
                break
            refused = [(i, f) for i, f in failed if _failure_is_refusal(f)]
            if refused:
                # Another worker's replica holds the same key (or none): it would be
                # refused the same way, after being paid for.
                raise OracleError(
                    f"DaskOracle: {_describe_failure(refused[0][1])}; not sent to another "
                    "worker. Give every worker the key (the api_key_env variable in the "
                    "workers' environment, or a factory that reads it on the worker).")
            if attempt == self.failover:
                i, future = failed[0]
                raise OracleError(
                    f"DaskOracle: {len(failed)} of {len(parts)} parts of a batch of "
                    f"{len(canvases)} canvases failed after {self.failover} resend(s): "
                    f"{_describe_failure(future)}")
            futures = [None] * len(parts)
            live = list(client.scheduler_info()["workers"])
            for i, future in failed:
                # Elsewhere than a replica that raised (a lost worker is gone already).
                others = [w for w in live if w != _failed_worker(future)] or None
                if charge is not None:
                    charge(len(parts[i]))  # a resend is a query: it may reach the model
                self.n_images += len(parts[i])
                self.n_failovers += 1
                futures[i] = submit(parts[i], others)
        return np.concatenate(answers, axis=0)

    __call__ = predict_proba

    def __repr__(self):
        what = self.oracle if self.oracle is not None else self.factory
        return f"DaskOracle({what!r})"


def _settle(futures):
    """Wait until every future is done, each through its own client.

    ``distributed.wait`` would go through the default client, which a cluster given as
    ``client=`` need not be (it fails with "No clients found").
    """
    for future in futures:
        if future is None:
            continue
        try:
            future.exception()
        except BaseException as err:  # cancelled: done, with nothing to read
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                raise


def _failure_is_refusal(future):
    exc = _failure(future)
    return isinstance(exc, ReplicaError) and len(exc.args) > 2 and exc.args[2]


def _failure(future):
    try:
        return future.exception()
    except Exception as err:  # cancelled: no exception to read
        return err


def _failed_worker(future):
    """The address of the worker whose replica raised, if that is how the part failed."""
    exc = _failure(future)
    return exc.args[0] if isinstance(exc, ReplicaError) else None


def _placement(workers):
    """``client.submit``'s keywords to prefer ``workers`` (any worker where None): Dask
    refuses ``allow_other_workers`` without a list of workers."""
    return {} if not workers else {"workers": workers, "allow_other_workers": True}


def _describe_failure(future):
    exc = _failure(future)
    if isinstance(exc, ReplicaError):
        return f"the replica on worker {exc.args[0]} raised {exc.args[1]}"
    return f"{type(exc).__name__}: {exc} (a worker lost?)"
