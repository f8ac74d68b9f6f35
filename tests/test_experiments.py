"""The ASD examples: the CV report, the q/m grid, the baselines without torch, Dask, the scripts.

The examples and their shared helpers (``examples/_asd_experiments.py``) are scripts, not
part of the package, so they are imported here by path.
"""

import importlib.util
import pathlib
import re
import sys

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import StratifiedKFold

from skbar.datasets import ASD, CONTROL, make_asd_cohort
from skbar.optim import Adam
from skbar.oracles import RandomNetworkOracle

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"
N, STEPS, Q, BATCH = 80, 6, 2, 8


def _example(name):
    """``examples/<name>.py`` as a module, imported by path.

    Not put in ``sys.modules``: cloudpickle then sends its functions (the ``queries``
    scorer) to joblib's and Dask's worker processes by value, as those cannot import
    ``examples/`` by name.
    """
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


experiments = _example("_asd_experiments")
asd_scoring = experiments.asd_scoring
cross_validate_methods = experiments.cross_validate_methods
grid_search_q_m = experiments.grid_search_q_m
grid_table = experiments.grid_table
make_bar_pipeline = experiments.make_bar_pipeline
make_linear_probe = experiments.make_linear_probe
make_logistic_baseline = experiments.make_logistic_baseline
make_mlp_baseline = experiments.make_mlp_baseline
ten_fold = experiments.ten_fold


@pytest.fixture(scope="module")
def cohort():
    return make_asd_cohort(n_asd=N // 2, n_control=N // 2, n_regions=16, difficulty=0.25,
                           random_state=0, return_X_y=True)


def toy_oracle(record=False):
    return RandomNetworkOracle(input_shape=(24, 24, 1), n_classes=20, record=record)


def bar(oracle=None, **params):
    params = {"q": Q, "m": 2, "batch_size": BATCH, "max_iter": STEPS, "optimizer": Adam(0.1),
              "random_state": 0, **params}
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


@pytest.mark.parametrize("name, extra", [
    ("asd_cross_validation", ["--methods", "bar,probe,logistic", "--max-queries", "200"]),
    ("grid_search_q_m", ["--q-grid", "1,2", "--m-grid", "1", "--steps", "2"]),
    ("ablations", ["--max-queries", "200"]),
])
def test_each_example_runs_in_one_command(name, extra, capsys, monkeypatch):
    # A script imports its helpers by name, from its own folder (sys.path[0] when run as
    # `python examples/<name>.py`); here it gets the copy loaded above.
    monkeypatch.setitem(sys.modules, "_asd_experiments", experiments)
    args = ["--model", "toy", "--n-asd", "15", "--n-control", "15", "--n-regions", "16",
            "--embed-size", "16", "--folds", "3", "--n-jobs", "1", "--batch-size", "4"]
    assert _example(name).main(args + extra) == 0
    out = capsys.readouterr().out
    assert "SIMULATED" in out and ("| method |" in out or "| q | m |" in out)


# ------------------------------------------------ the one-off experiments of experiments/
LAB = pathlib.Path(__file__).resolve().parents[1] / "experiments"
NEEDS_TORCH = {"gradient_quality", "program_families", "surrogate_prior"}


def _lab(name, monkeypatch):
    """``experiments/<name>.py`` imported as ``python experiments/<name>.py`` would: its
    folder first on ``sys.path``, so that it finds ``_benchmark`` (and through it the
    benchmark's tasks in ``benchmarks/``) and its sibling scripts. ``sys.path`` and the
    scripts' modules are put back as they were when the test ends."""
    monkeypatch.setattr(sys, "path", [str(LAB)] + sys.path)
    for module in {"_benchmark", "query_efficiency", "view_search", name}:
        monkeypatch.setitem(sys.modules, module, None)  # restored (or removed) afterwards
        del sys.modules[module]
    return importlib.import_module(name)


@pytest.mark.parametrize("name", sorted(p.stem for p in LAB.glob("[!_]*.py")))
def test_every_experiment_imports_from_its_folder(name, monkeypatch):
    if name in NEEDS_TORCH:
        pytest.importorskip("torch", reason=f"experiments/{name}.py needs the torch extra")
    module = _lab(name, monkeypatch)
    assert "python experiments/" in module.__doc__  # its command, from the repository root
    assert pathlib.Path(module.__file__).parent == LAB
    assert callable(getattr(module, "main", None) or getattr(module, "run", None))


def test_the_experiments_send_the_views_the_estimator_sends(monkeypatch):
    """``view_search``'s public-API reading (``reprogram`` under a program set from
    outside) sends, under its fixed programs, the very canvases that the estimator's
    four views send: so its figures are about the defaults' views."""
    from skbar import BlackBoxReprogrammingClassifier
    from skbar.oracles import FunctionOracle
    from skbar.heads import LinearHead

    view_search = _lab("view_search", monkeypatch)
    sent = []
    network = RandomNetworkOracle(input_shape=(72, 72, 3), n_classes=30, record=False)

    def record(canvases):
        sent.append(np.array(canvases))
        return network.predict_proba(canvases)

    oracle = FunctionOracle(record, (72, 72, 3))
    X, y = np.random.RandomState(0).rand(40, 64), np.arange(40) % 4
    four = BlackBoxReprogrammingClassifier(
        oracle, sample_shape=(8, 8), embed_size=view_search.EMBED, max_iter=0, m=3,
        views=4, random_state=0).fit(X, y)
    sent.clear()
    four.predict_proba(X[:5])
    by_estimator = np.concatenate(sent)
    assert by_estimator.shape[0] == 4 * 5  # four views, one query each per sample

    one = BlackBoxReprogrammingClassifier(
        oracle, sample_shape=(8, 8), embed_size=view_search.EMBED, max_iter=0, m=3,
        views=1, random_state=0).fit(X, y)
    sent.clear()
    answers = [view_search.answers_under(one, oracle, X[:5], w)
               for w in view_search.fixed_programs(one)]
    np.testing.assert_array_equal(np.concatenate(sent), by_estimator)
    np.testing.assert_allclose(np.hstack(answers), network.predict_proba(by_estimator)
                               .reshape(4, 5, -1).transpose(1, 0, 2).reshape(5, -1))


# ------------------------------------------------ the gallery (examples/plot_*.py)
def _gallery_blocks():
    """``(file, block)`` for each code block of the gallery's examples (``# %%`` cells)."""
    import ast

    for path in sorted(EXAMPLES.glob("plot_*.py")):
        cell = []
        for line in path.read_text(encoding="utf-8").splitlines() + ["# %%"]:
            if line.startswith("# %%"):
                body = [node for node in ast.parse("\n".join(cell)).body
                        if not isinstance(node, ast.Expr) or not isinstance(
                            node.value, ast.Constant)]  # docstrings render as text
                if body:
                    yield path.name, body
                cell = []
            else:
                cell.append(line)


def test_no_gallery_block_ends_on_an_estimator_whose_repr_would_be_rendered():
    """sphinx-gallery renders the repr of a block's last expression; an estimator's shows
    its oracle, whose repr holds the path of the build machine's model cache."""
    import ast

    blocks = list(_gallery_blocks())
    assert len({name for name, _ in blocks}) >= 5
    for name, body in blocks:
        last = body[-1]
        if isinstance(last, ast.Expr):
            value = last.value
            shows_estimator = isinstance(value, ast.Name) or (
                isinstance(value, ast.Call) and isinstance(value.func, ast.Attribute)
                and value.func.attr in ("fit", "set_params", "partial_fit"))
            assert not shows_estimator, f"{name}, line {last.lineno}: {ast.unparse(last)}"


def test_the_cross_validation_example_prints_one_table_with_skbars_defaults(capsys,
                                                                            monkeypatch):
    monkeypatch.setitem(sys.modules, "_asd_experiments", experiments)
    args = ["--model", "toy", "--n-asd", "15", "--n-control", "15", "--n-regions", "16",
            "--embed-size", "16", "--folds", "3", "--n-jobs", "1", "--batch-size", "4",
            "--max-queries", "200"]
    assert _example("asd_cross_validation").main(args) == 0  # the default --methods
    out = capsys.readouterr().out
    assert out.count("| method |") == 1, out  # one table, printed when every row is done
    rows = re.findall(r"^\| (.+?) \| ([01]\.\d{3}) ±", out, re.M)
    assert [name for name, _ in rows][:1] == ["skbar defaults (learned head, SPSA-GC)"]
    assert len(rows) == 6  # skbar, bar, bar-linear, probe, logistic, mlp (ar needs torch)
    assert out.count("done: ") == 6
