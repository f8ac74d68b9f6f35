"""DaskOracle against a cluster that is not the default, a worker that dies after its
model got a part, and keys the workers do not have (issue 25, rows 5 to 7).

The clusters are ``LocalCluster``s of at most two single-threaded workers, closed by
each test: in threads where nothing has to die, in processes where a worker does.
"""

import os
import sys
from pathlib import Path

import numpy as np
import pytest

distributed = pytest.importorskip(
    "distributed", reason="DaskOracle is the optional `dask` extra (pip install 'skbar[dask]')")
pytest.importorskip("httpx", reason="HttpOracle needs httpx: pip install 'skbar[http]'")

from distributed import Client, LocalCluster  # noqa: E402
from hostile_server import HostileServer  # noqa: E402
from test_http_hardening import KEY, assert_no_part_of_the_key, shown  # noqa: E402

from skbar import BlackBoxReprogrammingClassifier  # noqa: E402
from skbar.oracles import (BudgetExhausted, DaskOracle, FunctionOracle,  # noqa: E402
                           HttpOracle, OracleError, QueryCounter)

CANVASES = np.random.default_rng(0).random((8, 8, 8, 3), dtype=np.float32)


def _mean_scores(canvases):
    flat = np.asarray(canvases).reshape(len(canvases), -1).mean(axis=1)
    return np.stack([flat, 1 - flat, 0.5 + 0 * flat, 0.25 + 0 * flat], axis=1) / 1.75


@pytest.fixture
def thread_cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        yield cluster


# ----------------------------------------------------------------- row 5
def test_a_client_that_is_not_the_default_is_used_throughout(thread_cluster):
    with Client(thread_cluster, set_as_default=False) as client:
        with pytest.raises(ValueError):
            distributed.default_client()  # no default client: only `client` can work
        oracle = DaskOracle(FunctionOracle(_mean_scores, (8, 8, 3)), client=client)
        counter = QueryCounter(oracle, max_queries=100)
        np.testing.assert_allclose(counter(CANVASES), _mean_scores(CANVASES))
        np.testing.assert_allclose(counter(CANVASES[:3]), _mean_scores(CANVASES[:3]))
        assert counter.n_queries == oracle.n_images == 11 and oracle.n_failovers == 0
        # And a fit through it, start to end.
        rng = np.random.default_rng(1)
        X, y = rng.random((24, 16)), np.arange(24) % 2
        clf = BlackBoxReprogrammingClassifier(oracle, q=1, batch_size=8, max_iter=2,
                                              random_state=0).fit(X, y)
        assert clf.n_iter_ == 2 and clf.n_queries_ == oracle.n_images - 11


# ----------------------------------------------------------------- row 6
class _DiesOnce:
    """A model that writes down every image it receives, then kills its worker process
    the first time (the flag file says whether it did)."""

    def __init__(self, log, flag):
        self.log, self.flag = str(log), str(flag)
        self.input_shape, self.n_classes = (8, 8, 3), 4

    def predict_proba(self, canvases):
        with open(self.log, "a") as f:
            f.write(f"{len(canvases)}\n")
        try:
            fd = os.open(self.flag, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return _mean_scores(canvases)
        os.close(fd)
        os._exit(1)  # after the model got the part: its answer is lost with the worker


def _received(log):
    return sum(int(line) for line in Path(log).read_text().split())


def test_a_worker_dying_after_its_model_got_a_part_is_counted_and_the_budget_holds(tmp_path):
    import cloudpickle

    # The workers are other processes: they get this module's classes by value.
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    try:
        _die_once_and_count(tmp_path)
    finally:
        cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def _die_once_and_count(tmp_path):
    log, flag = tmp_path / "received.txt", tmp_path / "died"
    # Dask's defaults: allowed-failures=3, so the scheduler reruns a lost worker's task.
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, memory_limit="1GiB") as cluster, \
            Client(cluster) as client:
        allowed = client.run_on_scheduler(lambda dask_scheduler: dask_scheduler.allowed_failures)
        assert allowed == 3
        oracle = DaskOracle(factory=lambda: _DiesOnce(log, flag), client=client,
                            input_shape=(8, 8, 3), n_parts=2)
        counter = QueryCounter(oracle)
        np.testing.assert_allclose(counter(CANVASES), _mean_scores(CANVASES))
        # One part of 4 reached a model whose worker then died; it was sent again,
        # charged, through failover, not rerun unseen by the scheduler.
        assert flag.exists() and _received(log) == 12
        assert counter.n_queries == oracle.n_images == 12 and oracle.n_failovers == 1

        # The budget holds: with room for the batch only, the resend is refused.
        flag.unlink()
        log.write_text("")
        counter = QueryCounter(oracle, max_queries=8)
        with pytest.raises(BudgetExhausted):
            counter(CANVASES)
        assert _received(log) <= counter.n_queries == 8


# ----------------------------------------------------------------- row 7
def test_an_http_oracle_holding_its_key_is_refused_saying_how_to_give_workers_one():
    oracle = HttpOracle("http://127.0.0.1:9", "tiny", api_key=KEY)
    with pytest.raises(ValueError, match=r"SKBAR_API_KEY.*on the workers.*factory=") as info:
        DaskOracle(oracle)
    assert_no_part_of_the_key(shown(info.value))
    DaskOracle(HttpOracle("http://127.0.0.1:9", "tiny"))  # the key from the environment


@pytest.mark.parametrize("status", [401, 403])
def test_a_part_refused_401_or_403_is_never_failed_over(thread_cluster, status, monkeypatch):
    server = HostileServer(key=KEY).start()
    monkeypatch.delenv("SKBAR_API_KEY", raising=False)
    try:
        if status == 403:  # a key the server knows, refused anyway
            server.behaviour = {"mode": "echo", "status": 403}
        url = server.url

        def factory():  # no key on the workers (or a key refused)
            return HttpOracle(url, "tiny", api_key=KEY if status == 403 else None,
                              input_name="x", input_shape=(8, 8, 3), layout="NHWC",
                              max_retries=2, backoff=0.0)

        with Client(thread_cluster) as client:
            oracle = DaskOracle(factory=factory, client=client, input_shape=(8, 8, 3),
                                failover=3)
            counter = QueryCounter(oracle)
            with pytest.raises(OracleError, match=rf"HTTP {status}.*not sent to another "
                               r"worker.*api_key_env") as info:
                counter(CANVASES)
        assert_no_part_of_the_key(shown(info.value))
        # Each of the two parts went once, to one worker: no resend, no retry.
        assert oracle.n_failovers == 0 and counter.n_queries == oracle.n_images == 8
        assert len(server.paths) == 2 and server.images == (8 if status == 403 else 0)
    finally:
        server.stop()
