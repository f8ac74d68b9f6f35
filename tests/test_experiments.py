"""The paper's experiments: the ASD CV report, the q/m grid, the baselines, Dask, the examples."""

import importlib.util
import pathlib

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from skbar.datasets import make_asd_cohort
from skbar.experiments import (
    ASD,
    CONTROL,
    asd_scoring,
    cross_validate_methods,
    grid_search_q_m,
    grid_table,
    make_bar_pipeline,
    make_linear_probe,
    make_logistic_baseline,
    make_mlp_baseline,
    ten_fold,
)
from skbar.oracles import RandomNetworkOracle

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
N, STEPS, Q, BATCH = 80, 6, 2, 8


@pytest.fixture(scope="module")
def cohort():
    return make_asd_cohort(n_asd=N // 2, n_control=N // 2, n_regions=16, difficulty=0.25,
                           random_state=0, return_X_y=True)


def toy_oracle(record=False):
    return RandomNetworkOracle(input_shape=(24, 24, 1), n_classes=20, record=record)


def bar(oracle=None, **params):
    params = {"q": Q, "m": 2, "batch_size": BATCH, "max_iter": STEPS, "optimizer": "adam",
              "learning_rate": 0.1, "random_state": 0, **params}
    return make_bar_pipeline(toy_oracle() if oracle is None else oracle, **params)


@pytest.fixture(scope="module")
def report(cohort):
    X, y = cohort
    methods = {"BAR": bar(), "probe": make_linear_probe(toy_oracle()),
               "logistic": make_logistic_baseline(), "mlp": make_mlp_baseline(max_iter=50)}
    return cross_validate_methods(methods, X, y, cv=ten_fold(0), n_jobs=1,
                                  return_estimator=True)


def test_cv_report_has_a_row_per_method_with_scores_in_range(report):
    assert [row["method"] for row in report.rows] == ["BAR", "probe", "logistic", "mlp"]
    n_train = N - N // 10
    for row in report.rows:
        for metric in ("accuracy", "sensitivity", "specificity"):
            assert 0.0 <= row[f"{metric}_mean"] <= 1.0
            assert 0.0 <= row[f"{metric}_std"] <= 0.5
        assert row["wall_time"] > 0 and row["fit_time_mean"] > 0
    queries = {row["method"]: row["queries_mean"] for row in report.rows}
    # The frequency mapping queries each training sample once, then every step pays
    # (q + 1) minibatches; the probe queries each training sample once; the others none.
    assert queries == {"BAR": n_train + STEPS * (Q + 1) * BATCH, "probe": n_train,
                       "logistic": 0, "mlp": 0}
    # On this easy cohort (difficulty=0.25) the data alone separate the groups.
    assert report.rows[2]["accuracy_mean"] >= 0.7
    table = report.to_markdown().splitlines()
    assert table[0].startswith("| method | accuracy | sensitivity | specificity | queries")
    assert len(table) == 2 + 4


def test_every_method_is_scored_on_the_same_ten_folds(report, cohort):
    _, y = cohort
    folds = [r["indices"]["test"] for r in report.results.values()]
    assert all(len(f) == 10 for f in folds)
    for other in folds[1:]:
        for a, b in zip(folds[0], other):
            np.testing.assert_array_equal(a, b)
    # Stratified: every test fold holds both groups equally.
    for test in folds[0]:
        assert (y[test] == ASD).sum() == (y[test] == CONTROL).sum() == 4


def test_sensitivity_and_specificity_match_a_hand_computation(report, cohort):
    X, y = cohort
    for name, result in report.results.items():
        for k in (0, 3):
            test = result["indices"]["test"][k]
            pred = result["estimator"][k].predict(X[test])
            truth = y[test]
            assert result["test_sensitivity"][k] == np.mean(pred[truth == ASD] == ASD), name
            assert result["test_specificity"][k] == np.mean(pred[truth == CONTROL] == CONTROL)
            assert result["test_accuracy"][k] == np.mean(pred == truth)


def test_queries_per_fold_equal_what_the_oracle_received(report, cohort):
    X, y = cohort
    result = report.results["BAR"]
    for k in (0, 7):
        train, test = result["indices"]["train"][k], result["indices"]["test"][k]
        oracle = toy_oracle(record=True)
        fitted = clone(bar()).set_params(bar__oracle=oracle).fit(X[train], y[train])
        assert oracle.n_images == result["test_queries"][k] == fitted[-1].n_queries_
        fitted.predict(X[test])
        # Scoring costs one query per test sample: fit plus test is all it was sent.
        assert oracle.n_images == result["test_queries"][k] + len(test)


def test_queries_scorer_sends_nothing(cohort):
    X, y = cohort
    oracle = toy_oracle(record=True)
    fitted = bar(oracle).fit(X, y)
    spent = oracle.n_images
    assert asd_scoring()["queries"](fitted, X, y) == spent
    assert oracle.n_images == spent


def test_grid_search_table_has_one_row_per_q_and_m(cohort):
    X, y = cohort
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    search, rows = grid_search_q_m(bar(), X, y, q=(1, 3), m=(1, 2), cv=cv, n_jobs=1)
    assert sorted((r["q"], r["m"]) for r in rows) == [(1, 1), (1, 2), (3, 1), (3, 2)]
    n_train = [len(train) for train, _ in cv.split(X, y)]
    for r in rows:
        # Same steps at every point: a larger q costs (q + 1) minibatches a step.
        assert r["queries_mean"] == pytest.approx(np.mean(n_train) + STEPS * (r["q"] + 1) * BATCH)
        assert 0.0 <= r["accuracy_mean"] <= 1.0
    assert min(r["rank"] for r in rows) == 1
    assert len(grid_table(rows).splitlines()) == 2 + 4
    assert not hasattr(search, "best_estimator_")  # no refit: no queries beyond the table's


def test_folds_in_parallel_give_the_serial_scores(cohort):
    X, y = cohort
    cv = ten_fold(0, n_splits=5)
    serial = cross_validate_methods({"BAR": bar()}, X, y, cv=cv, n_jobs=1).results["BAR"]
    parallel = cross_validate_methods({"BAR": bar()}, X, y, cv=cv, n_jobs=2).results["BAR"]
    for key in ("test_accuracy", "test_sensitivity", "test_specificity", "test_queries"):
        np.testing.assert_array_equal(serial[key], parallel[key])


def test_a_dask_cluster_gives_the_serial_scores(cohort):
    distributed = pytest.importorskip(
        "dask.distributed", reason="the Dask backend is the optional `dask` extra (CI installs it)")
    X, y = cohort
    cv = ten_fold(0, n_splits=4)
    methods = {"BAR": bar(), "probe": make_linear_probe(toy_oracle())}
    serial = cross_validate_methods(methods, X, y, cv=cv, n_jobs=1)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster), joblib.parallel_backend("dask"):
        on_dask = cross_validate_methods(methods, X, y, cv=cv, n_jobs=2)
    for name in methods:
        for key in ("test_accuracy", "test_sensitivity", "test_specificity", "test_queries"):
            np.testing.assert_array_equal(serial.results[name][key], on_dask.results[name][key])


def _example(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name, extra", [
    ("asd_cross_validation", ["--methods", "bar,probe,logistic", "--max-queries", "200"]),
    ("grid_search_q_m", ["--q-grid", "1,2", "--m-grid", "1", "--steps", "2"]),
    ("ablations", ["--max-queries", "200"]),
])
def test_each_example_runs_in_one_command(name, extra, capsys):
    args = ["--model", "toy", "--n-asd", "15", "--n-control", "15", "--n-regions", "16",
            "--embed-size", "16", "--folds", "3", "--n-jobs", "1", "--batch-size", "4"]
    assert _example(name).main(args + extra) == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out and ("| method |" in out or "| q | m |" in out)


def test_white_box_reprogramming_uses_the_oracles_model():
    pytest.importorskip("torch", reason="white-box baselines are the optional `torch` extra")
    pytest.importorskip("efficientnet_lite_pytorch",
                        reason="white-box baselines are the optional `torch` extra")
    import torch

    from skbar import zoo
    from skbar.experiments import WhiteBoxReprogrammingClassifier, pixels_pipeline
    from skbar.experiments._torch import _pretrained, _to_model_input

    # The torch network the gradients come from is the black-box oracle's model.
    canvases = np.random.RandomState(0).rand(3, 64, 64, 3).astype(np.float32)
    with torch.no_grad():
        logits = _pretrained("efficientnet-lite0")(_to_model_input(torch.from_numpy(canvases)))
    np.testing.assert_allclose(torch.softmax(logits, 1).numpy(),
                               zoo.load(image_size=64).predict_proba(canvases), atol=1e-4)

    X, y = make_asd_cohort(8, 8, n_regions=16, random_state=0, return_X_y=True)
    ar = pixels_pipeline(WhiteBoxReprogrammingClassifier(
        image_size=64, embed_size=32, rescale=False, m=2, max_iter=2, batch_size=4,
        random_state=0), "ar").fit(X, y)
    fitted = ar[-1]
    assert fitted.n_queries_ == len(X) + 2 * 4  # frequency mapping, then 2 minibatches
    assert np.any(fitted.bar_.program_ != 0)
    # The true gradient is 0 under the sample (M = 0 there): W moves only on the frame.
    assert np.all(fitted.bar_.program_[fitted.bar_.mask_ == 0] == 0)
    assert set(ar.predict(X)) <= {0, 1}

    # With the black-box estimator's learned head: trained jointly with W, then refitted
    # on the outputs under the final program (a pass over X). A callback can stop it.
    steps = []
    linear = WhiteBoxReprogrammingClassifier(
        image_size=64, embed_size=32, rescale=False, m=2, max_iter=5, batch_size=4,
        output_mapping="linear", random_state=0,
        callback=lambda est, info: steps.append(info["n_queries"]) or len(steps) == 3)
    linear.fit((X + 1) / 2, y)
    assert steps == [len(X) + 4, len(X) + 8, len(X) + 12] and linear.n_iter_ == 3
    assert linear.n_queries_ == len(X) + 3 * 4 + len(X)
    assert linear.bar_.output_coef_.shape == (2, 1000)
    assert set(linear.predict((X + 1) / 2)) <= {0, 1}


def test_fine_tuning_trains_a_new_head_on_the_same_network():
    pytest.importorskip("torch", reason="white-box baselines are the optional `torch` extra")
    pytest.importorskip("efficientnet_lite_pytorch",
                        reason="white-box baselines are the optional `torch` extra")
    from skbar.experiments import FineTuningClassifier
    from skbar.experiments._torch import _pretrained

    X, y = make_asd_cohort(6, 6, n_regions=16, random_state=0, return_X_y=True)
    before = _pretrained("efficientnet-lite0")._conv_stem.weight.clone()
    tuned = FineTuningClassifier(image_size=32, epochs=2, batch_size=6, random_state=0).fit(X, y)
    assert tuned.n_queries_ == 2 * len(X)
    assert tuned.model_._fc.out_features == 2 and len(tuned.loss_curve_) == 4
    # All weights were trained, on a copy: the shared pretrained network is untouched.
    assert not np.array_equal(tuned.model_._conv_stem.weight.numpy(), before.numpy())
    np.testing.assert_array_equal(_pretrained("efficientnet-lite0")._conv_stem.weight, before)
    proba = tuned.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
