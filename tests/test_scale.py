"""Scale: samples prepared a batch at a time, and one fit's queries spread over Dask workers."""

import tracemalloc

import numpy as np
import pytest

from skbar import BlackBoxReprogrammingClassifier
from skbar.canvas import Samples, data_range
from skbar.oracles import FunctionOracle, OracleError, RandomNetworkOracle
from skbar.canvas import match_channels, resize_images, to_images


def _digits_like(n, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randint(0, 17, size=(n, 64)).astype(np.uint8)
    y = (X[:, :32].sum(axis=1) > X[:, 32:].sum(axis=1)).astype(int)
    return X, y


def _mean_oracle(canvases):
    # Row by row (no matrix product whose rounding depends on the batch size).
    means = canvases.reshape(len(canvases), 4, -1).mean(axis=2)
    return np.exp(4 * means) / np.exp(4 * means).sum(axis=1, keepdims=True)


def _fit(X, y, oracle, **params):
    params = {"q": 2, "max_iter": 4, "batch_size": 8, "random_state": 0, **params}
    return BlackBoxReprogrammingClassifier(oracle, **params).fit(X, y)


def test_samples_take_matches_the_whole_array_prepared_at_once():
    X, _ = _digits_like(50)
    low, high = data_range(X)
    assert (low, high) == (float(X.astype(np.float32).min()), float(X.astype(np.float32).max()))
    samples = Samples(X, 3, embed_size=12, data_range=(low, high))
    whole = np.clip((X.astype(np.float32) - low) / (high - low), 0.0, 1.0)
    whole = match_channels(resize_images(to_images(whole), (12, 12)), 3)
    idx = np.array([7, 3, 49, 0])
    assert len(samples) == 50 and samples.sample_size == (12, 12)
    np.testing.assert_array_equal(samples.take(idx), whole[idx])
    assert samples.take(idx).dtype == np.float32


def test_bytes_floats_and_a_memmap_give_the_same_program(tmp_path):
    X, y = _digits_like(60)
    oracle = RandomNetworkOracle(input_shape=(16, 16, 1), record=False)
    memmap = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.uint8,
                                       shape=X.shape)
    memmap[:] = X
    memmap.flush()
    memmap = np.load(tmp_path / "X.npy", mmap_mode="r")
    fits = [_fit(data, y, oracle, embed_size=8)
            for data in (X, X.astype(np.float64), memmap)]
    for clf in fits[1:]:
        np.testing.assert_array_equal(clf.program_, fits[0].program_)
        assert clf.n_queries_ == fits[0].n_queries_
    np.testing.assert_array_equal(fits[2].predict_proba(memmap), fits[0].predict_proba(X))
    np.testing.assert_array_equal(fits[2].reprogram(memmap[:5]), fits[0].reprogram(X[:5]))


def test_fit_and_predict_memory_is_set_by_the_batch_not_by_n(monkeypatch):
    import skbar.canvas._samples

    # 3,000 samples resized to 32 px on a 64 px RGB canvas would be 37 MB as float32.
    # A fit keeps its prepared samples up to KEPT_BYTES (tests/test_speed_samples.py):
    # past that bound, here less than their 12 MB, memory follows the batch.
    monkeypatch.setattr(skbar.canvas._samples, "KEPT_BYTES", 2**20)
    X, y = _digits_like(3000)
    oracle = FunctionOracle(lambda c: np.ones((len(c), 10)), (64, 64, 3))
    clf = BlackBoxReprogrammingClassifier(oracle, embed_size=32, q=2, max_iter=3,
                                          random_state=0)
    tracemalloc.start()
    try:
        clf.fit(X, y)
        _, fit_peak = tracemalloc.get_traced_memory()
        monkeypatch.undo()  # a prediction keeps nothing, whatever the bound
        tracemalloc.reset_peak()
        clf.predict(X)
        _, predict_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    whole = len(X) * 32 * 32 * 3 * 4
    assert fit_peak < whole / 3, (fit_peak, whole)
    assert predict_peak < whole / 3, (predict_peak, whole)


def test_rescale_false_still_refuses_bytes_and_clips_a_little_outside():
    X, y = _digits_like(20)
    oracle = RandomNetworkOracle(input_shape=(8, 8, 1), record=False)
    with pytest.raises(ValueError, match="rescale=False takes X as pixels"):
        _fit(X, y, oracle, rescale=False)
    clf = _fit(X / 16.0, y, oracle, rescale=False)
    canvases = clf.reprogram(X[:2] / 16.0 * 1.1)
    assert canvases.max() <= 1.0


def test_the_refit_cache_keeps_a_fixed_subset_and_a_cap_above_n_changes_nothing(monkeypatch):
    import skbar.fit._cache

    X, y = _digits_like(60)
    oracle = RandomNetworkOracle(input_shape=(16, 16, 1), record=False)
    free = _fit(X, y, oracle, embed_size=8)
    assert free._cache.scores.shape == (60, 10)
    monkeypatch.setattr(skbar.fit._cache, "MAX_REFIT_SAMPLES", 24)
    capped = _fit(X, y, oracle, embed_size=8)
    cache = capped._cache
    assert cache.scores.shape == (24, 10) and cache.known.all()
    # The same subset whatever the fit's seed; the search itself is untouched by the cap.
    other = _fit(X, y, oracle, embed_size=8, random_state=1)
    np.testing.assert_array_equal(other._cache.kept, cache.kept)
    assert capped.n_queries_ == free.n_queries_ and capped.n_iter_ == free.n_iter_
    assert capped.predict(X).shape == (60,)
    assert capped.refit_head(X, y) == 60
    assert capped._cache.start.correct.shape == (24,)


# ---------------------------------------------------------------- Dask

@pytest.fixture(scope="module")
def client():
    # Only the Dask tests skip without the extra; the memory tests above still run.
    pytest.importorskip(
        "distributed", reason="DaskOracle is the optional `dask` extra (pip install 'skbar[dask]')")
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=3, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        yield client


class _Flaky:
    """An oracle whose replicas answer ``after`` calls, then raise ``fail`` times (a worker
    going down)."""

    def __init__(self, fail, after=0):
        self.fail, self.after = fail, after
        self.input_shape = (16, 16, 1)
        self.n_classes = 4

    def predict_proba(self, canvases):
        if self.after:
            self.after -= 1
        elif self.fail:
            self.fail -= 1
            raise RuntimeError("the GPU fell off the bus")
        return _mean_oracle(canvases)


def test_the_same_seed_gives_the_same_program_on_the_cluster(client):
    from skbar.oracles import DaskOracle

    X, y = _digits_like(60)
    local = FunctionOracle(_mean_oracle, (16, 16, 1))
    spread = DaskOracle(local, client=client)
    one = _fit(X, y, local, max_iter=20, max_queries=300)
    many = _fit(X, y, spread, max_iter=20, max_queries=300)
    np.testing.assert_array_equal(many.program_, one.program_)
    assert many.n_queries_ == one.n_queries_ == spread.n_images
    assert many.stop_reason_ == "max_queries"
    np.testing.assert_array_equal(many.predict_proba(X), one.predict_proba(X))


def test_a_part_that_fails_goes_to_another_worker_and_is_charged_again(client):
    from skbar.oracles import DaskOracle, QueryCounter

    canvases = np.random.RandomState(0).rand(9, 16, 16, 1).astype(np.float32)
    # Each worker's replica fails once: the three first parts fail, their resends pass.
    oracle = DaskOracle(factory=lambda: _Flaky(fail=1), client=client, n_parts=3)
    counter = QueryCounter(oracle)
    np.testing.assert_allclose(counter(canvases), _mean_oracle(canvases))
    assert oracle.n_failovers == 3
    assert counter.n_queries == oracle.n_images == 18
    assert oracle.input_shape == (16, 16, 1) and oracle.n_classes == 4


def test_a_fit_whose_workers_keep_failing_stops_with_oracle_error_and_keeps_its_program(client):
    from skbar.oracles import DaskOracle

    X, y = _digits_like(40)
    # Each replica answers twice (the first pass, the first steps), then fails for good.
    oracle = DaskOracle(factory=lambda: _Flaky(fail=10**6, after=2), client=client)
    clf = BlackBoxReprogrammingClassifier(oracle, q=2, max_iter=20, batch_size=8,
                                          random_state=0)
    with pytest.raises(OracleError, match="replica on worker .* raised RuntimeError"):
        clf.fit(X, y)
    assert clf.stop_reason_ == "oracle_error"
    assert clf.program_.shape == clf.optimizer_.w_.shape and np.all(np.isfinite(clf.program_))
    # The failed step's images and their resends were paid for, and are counted.
    assert clf.n_queries_ == oracle.n_images > 40
    assert oracle.n_failovers > 0


def test_the_budget_is_hard_on_a_resend(client):
    from skbar.oracles import BudgetExhausted, DaskOracle, QueryCounter

    canvases = np.zeros((4, 16, 16, 1), dtype=np.float32)
    oracle = DaskOracle(factory=lambda: _Flaky(fail=1), client=client, n_parts=1)
    counter = QueryCounter(oracle, max_queries=6)
    with pytest.raises(BudgetExhausted):
        counter(canvases)
    assert counter.n_queries == 4  # the first send; the resend of 4 more was refused


def test_the_oracle_pickles_without_its_client(client):
    import pickle

    from skbar.oracles import DaskOracle

    oracle = DaskOracle(FunctionOracle(np.ones_like, (4, 4, 1)), client=client)
    copy = pickle.loads(pickle.dumps(oracle))
    assert copy.client is None and copy.input_shape == (4, 4, 1)
