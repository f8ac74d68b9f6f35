"""The query-efficiency benchmark scores each budget as a fit with that budget would end."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from skbar import BlackBoxReprogrammingClassifier
from skbar.oracles import RandomNetworkOracle, TopKOracle

from conftest import make_task


def _benchmark():
    path = Path(__file__).parent.parent / "benchmarks" / "query_efficiency.py"
    spec = importlib.util.spec_from_file_location("query_efficiency", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("method", ["defaults", "paper-bar", "spsa-gc", "cma", "defaults-top-k"])
def test_one_run_scores_every_budget_as_a_fit_with_that_budget(method):
    if method == "cma":
        pytest.importorskip("cma", reason="CMA-ES is the optional `es` extra")
    benchmark = _benchmark()
    X, y, X_test, y_test = make_task()
    oracle = RandomNetworkOracle(record=False)
    if method == "defaults-top-k":
        # Top three of 30 answers: the defaults read four views, four queries a sample.
        oracle = TopKOracle(RandomNetworkOracle(n_classes=30, record=False), k=3)
        method = "defaults"
    params = dict(benchmark.METHODS[method])
    if method == "cma":
        params.update(program_shape=(2, 2), q=8)  # 8 candidates a generation
    params["m"] = min(params.get("m", 3), 5)  # the toy oracle has 10 classes
    points = benchmark.run_one(oracle, (X, y, X_test, y_test, {}), method, 0, 5000,
                               {"embed_size": None, "method": params, "threads": None})
    assert [p["budget"] for p in points] == [1000, 2000, 5000]
    for point in points:
        alone = BlackBoxReprogrammingClassifier(
            oracle, batch_size=32, max_iter=10**9, max_queries=point["budget"],
            random_state=0, **params).fit(X, y)
        assert point["queries"] == alone.n_queries_ <= point["budget"]
        assert point["n_iter"] == alone.n_iter_
        assert point["accuracy"] == pytest.approx(alone.score(X_test, y_test))


def test_budgets_on_both_sides_of_a_small_budget_each_end_as_their_own_fit():
    # 200 samples: 3,000 queries is a small budget (q=2, first gain 0.05), 20,000 is not
    # (q=5, 0.01); one run to 20,000 would score 3,000 with the wrong settings.
    benchmark = _benchmark()
    X, y, X_test, y_test = make_task()
    oracle = RandomNetworkOracle(record=False)
    points = benchmark.run_one(oracle, (X, y, X_test, y_test, {}), "defaults", 0, 20000,
                               {"embed_size": None, "method": {"m": 3}, "threads": None},
                               checkpoints=(3000, 20000))
    settings = []
    for point in points:
        alone = BlackBoxReprogrammingClassifier(
            oracle, batch_size=32, max_iter=10**9, max_queries=point["budget"], m=3,
            random_state=0).fit(X, y)
        settings.append((alone.q_, alone.optimizer_.learning_rate))
        assert (point["queries"], point["n_iter"]) == (alone.n_queries_, alone.n_iter_)
        assert point["accuracy"] == pytest.approx(alone.score(X_test, y_test))
    assert settings == [(2, 0.05), (5, 0.01)]


def test_methods_split_at_commas_outside_json_lists():
    benchmark = _benchmark()
    specs = benchmark._split_methods("defaults,white-box-ar-top5:m=3;program_shape=[32,32],cma")
    assert specs == ["defaults", "white-box-ar-top5:m=3;program_shape=[32,32]", "cma"]
    name, params = benchmark._parse_method(specs[1])
    assert (params["m"], params["program_shape"], params["top_k"]) == (3, (32, 32), 5)
    with pytest.raises(SystemExit, match="unknown method 'program-32'"):
        benchmark._parse_method("program-32")


def test_the_regimes_answer_what_they_say():
    from skbar.oracles import call_oracle

    benchmark = _benchmark()
    model = RandomNetworkOracle(input_shape=(8, 8, 1), n_classes=1000, record=False)
    canvases = np.random.RandomState(0).rand(6, 8, 8, 1).astype(np.float32)
    full = call_oracle(model, canvases)
    top = call_oracle(benchmark.task_oracle("digits-top5", model), canvases)
    assert ((top > 0).sum(axis=1) == 5).all()
    best = np.argsort(-full, axis=1)[:, :5]
    kept = np.take_along_axis(full, best, axis=1)  # in proportion (answers are normalised)
    np.testing.assert_allclose(np.take_along_axis(top, best, axis=1),
                               kept / kept.sum(axis=1, keepdims=True), rtol=1e-5)
    two = call_oracle(benchmark.task_oracle("digits-2out", model), canvases)
    np.testing.assert_allclose(two[:, 0], full[:, :398].sum(axis=1), rtol=1e-5)
    np.testing.assert_allclose(two.sum(axis=1), 1.0, rtol=1e-5)
    blind = benchmark.task_oracle("program-only", model)
    grey = np.full((4, 16, 16, 1), 0.5, dtype=np.float32)
    grey[:, 6:10, 6:10] = np.linspace(0, 1, 4)[:, None, None, None]  # different samples
    np.testing.assert_allclose(call_oracle(blind, grey), 1 / 8)  # every answer ties


def test_the_report_reads_several_files_a_later_run_of_a_seed_replacing_an_earlier(tmp_path):
    import json

    def run(seed, accuracy):
        return {"task": "digits", "method": "defaults", "seed": seed,
                "points": [{"budget": 5000, "queries": 4900, "accuracy": accuracy}]}

    def probe(seed, accuracy):
        return {"task": "digits", "method": "probe-defaults", "seed": seed, "queries": 898,
                "accuracy": accuracy}

    first, second = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    first.write_text("\n".join(json.dumps(r) for r in
                               [run(0, 0.5), run(1, 0.6), probe(0, 0.4), probe(0, 0.4)]))
    second.write_text("\n".join(json.dumps(r) for r in [run(0, 0.9), probe(1, 0.8)]))
    curves, lines = _benchmark().load_results(f"{first},{second}")
    runs = curves[("digits", "defaults")]
    assert {seed: points[0]["accuracy"] for seed, points in runs.items()} == {0: 0.9, 1: 0.6}
    # A probe appended twice for one seed counts once.
    assert sorted(r["accuracy"] for r in lines[("digits", "probe-defaults")]) == [0.4, 0.8]
