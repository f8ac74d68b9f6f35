"""The real-image loaders, on fake package layouts; benchmarks/real_tasks.py, on a toy oracle."""

import gzip
import importlib.util
import json
import os
import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from skbar import BlackBoxReprogrammingClassifier
from skbar.datasets import load_animal_mnist, load_elpv
from skbar.oracles import RandomNetworkOracle, TopKOracle

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


# ------------------------------------------------------------------ loaders

def _fake_package(root, name, monkeypatch, init=""):
    """An importable package ``name`` under ``root``, found before any installed one."""
    (root / name).mkdir(parents=True)
    (root / name / "__init__.py").write_text(init)
    monkeypatch.delitem(sys.modules, name, raising=False)
    monkeypatch.syspath_prepend(str(root))
    return root / name


def _fake_elpv(tmp_path, monkeypatch, probabilities, size=5):
    data = _fake_package(tmp_path, "elpv_dataset", monkeypatch) / "data"
    (data / "images").mkdir(parents=True)
    lines = []
    for i, probability in enumerate(probabilities):
        pixels = np.full((size, size), 10 * i, dtype=np.uint8)
        pixels[0, 0] = 255
        Image.fromarray(pixels).save(data / "images" / f"cell{i:04d}.png")
        lines.append(f"images/cell{i:04d}.png  {probability}  mono")
    (data / "labels.csv").write_text("\n".join(lines) + "\n")
    return data


def test_elpv_is_read_from_the_package_and_labelled_defective_from_probability_half(
        tmp_path, monkeypatch):
    # elpv's four annotation levels: 0, 1/3 and 2/3, 1; defective from 0.5.
    _fake_elpv(tmp_path, monkeypatch, [0.0, 0.3333333333333333, 0.6666666666666666, 1.0, 0.0])
    X, y = load_elpv()
    assert X.dtype == np.uint8 and X.shape == (5, 5, 5)
    assert y.tolist() == [0, 0, 1, 1, 0]
    # The pixels as written, in the order of labels.csv.
    assert X[:, 1, 1].tolist() == [0, 10, 20, 30, 40]
    assert (X[:, 0, 0] == 255).all()


def test_elpv_names_a_bad_labels_line_and_a_missing_image(tmp_path, monkeypatch):
    data = _fake_elpv(tmp_path, monkeypatch, [0.0, 1.0])
    (data / "labels.csv").write_text("images/cell0000.png 0.0 mono\nimages/cell0001.png 1.5 mono\n")
    with pytest.raises(ValueError, match=r"line 2: the defect probability 1.5 is outside"):
        load_elpv()
    (data / "labels.csv").write_text("images/cell0000.png 0.0\n")
    with pytest.raises(ValueError, match=r"line 1: expected 'path probability type'"):
        load_elpv()
    (data / "labels.csv").write_text("images/cell0000.png 0.0 mono\nimages/gone.png 1.0 poly\n")
    with pytest.raises(ValueError, match=r"Cannot read the elpv image .*gone\.png"):
        load_elpv()


def _fake_animal_mnist(tmp_path, monkeypatch, images, labels):
    # The package's own __init__ would import tensorflow: the loader must not run it.
    root = _fake_package(tmp_path, "animal_mnist", monkeypatch,
                         init="raise RuntimeError('importing animal_mnist imports tensorflow')\n")
    folder = root / "data" / "Animal_MNIST"
    folder.mkdir(parents=True)
    for name, array in [("animal_data_version_3.gz", images),
                        ("animal_label_version_3.gz", labels)]:
        with gzip.open(folder / name, "wb") as f:
            pickle.dump(array, f)
    return folder


def test_animal_mnist_reads_the_pickles_without_importing_the_package(tmp_path, monkeypatch):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, (20, 28, 28)).astype(np.uint8)
    labels = np.arange(20) % 10
    _fake_animal_mnist(tmp_path, monkeypatch, images, labels)
    X, y = load_animal_mnist()
    assert X.dtype == np.uint8 and np.array_equal(X, images)
    assert y.tolist() == labels.tolist()
    assert "animal_mnist" not in sys.modules


class _Payload:
    """Unpickles to a call of ``os.getcwd``: any callable but an array's is refused."""

    def __reduce__(self):
        return os.getcwd, ()


def test_animal_mnist_refuses_a_pickle_that_names_anything_but_an_array(tmp_path, monkeypatch):
    _fake_animal_mnist(tmp_path, monkeypatch, _Payload(), np.zeros(1, int))
    with pytest.raises(pickle.UnpicklingError, match=r"Refusing to load posix\.getcwd|nt\.getcwd"):
        load_animal_mnist()


def test_animal_mnist_checks_the_shapes(tmp_path, monkeypatch):
    _fake_animal_mnist(tmp_path, monkeypatch, np.zeros((4, 28, 27), np.uint8), np.zeros(4, int))
    with pytest.raises(ValueError, match=r"images \(4, 28, 27\) and labels \(4,\)"):
        load_animal_mnist()


@pytest.mark.parametrize("loader, module, command", [
    (load_elpv, "elpv_dataset", "pip install elpv-dataset"),
    (load_animal_mnist, "animal_mnist", "pip install --no-deps animal-mnist"),
])
def test_a_missing_package_names_the_pip_command(monkeypatch, loader, module, command):
    monkeypatch.setitem(sys.modules, module, None)  # what find_spec reads as "not installed"
    with pytest.raises(ImportError, match=f"The '{module}' package is not installed: {command}"):
        loader()


@pytest.mark.slow
def test_the_installed_elpv_package_holds_the_published_data_set():
    if importlib.util.find_spec("elpv_dataset") is None:
        pytest.skip("the elpv data set is an optional package outside the test extra "
                    "(the bench extra: pip install elpv-dataset)")
    X, y = load_elpv()  # 2,624 PNG files
    assert X.shape == (2624, 300, 300)
    assert np.bincount(y).tolist() == [1803, 821]  # the majority class is 68.7%


def test_the_installed_animal_mnist_package_holds_the_published_data_set():
    if importlib.util.find_spec("animal_mnist") is None:
        pytest.skip("the Animal-MNIST data set is an optional package outside every extra "
                    "(it declares tensorflow: pip install --no-deps animal-mnist)")
    X, y = load_animal_mnist()
    assert X.shape == (10000, 28, 28) and np.bincount(y).tolist() == [1000] * 10


# ----------------------------------------------------------------- benchmark

@pytest.fixture
def benchmark(monkeypatch):
    """benchmarks/real_tasks.py with a toy task (2 classes, 6x6 grey images, 4 px in an
    8 px canvas) and a toy source model of 30 classes."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    spec = importlib.util.spec_from_file_location("real_tasks", BENCHMARKS / "real_tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def toy_images():
        rng = np.random.RandomState(0)
        y = np.arange(300) % 2
        X = (rng.rand(300, 6, 6) * 120 + 100 * y[:, None, None]).astype(np.uint8)
        return X, y

    monkeypatch.setitem(module.TASKS, "toy", module.Task(toy_images, n_train=60, n_test=80,
                                                         embed=4, canvas=8))
    models = {}

    def load_model(canvas, threads):
        models[canvas] = RandomNetworkOracle((canvas, canvas, 1), n_classes=30, record=False)
        return models[canvas]

    monkeypatch.setattr(module, "load_model", load_model)
    module.toy_models = models
    return module


def _rows(path):
    return [json.loads(line) for line in open(path)]


def test_rows_are_each_budget_of_a_fit_with_that_budget(benchmark, tmp_path):
    out = tmp_path / "rows.jsonl"
    benchmark.main(["--tasks", "toy", "--regimes", "full,top5", "--budgets", "2000,1000",
                    "--methods", "probe,defaults,paper-bar,pixels", "--seeds", "1",
                    "--out", str(out)])
    rows = _rows(out)
    keys = [(r["task"], r["regime"], r["method"], r["seed"], r["budget"]) for r in rows]
    assert len(keys) == len(set(keys)) == 2 * 4 * 2  # regimes, methods, budgets
    assert {r["task"] for r in rows} == {"toy@4/8"}
    assert {(r["n_train"], r["n_test"]) for r in rows} == {(60, 80)}
    model = benchmark.toy_models[8]
    for regime, oracle in [("full", model), ("top5", TopKOracle(model, k=5))]:
        X, y, X_test, y_test = benchmark.split(benchmark.parse_task("toy")[1], 1)
        assert X.shape == (60, 4, 4, 1)
        got = {(r["method"], r["budget"]): r for r in rows if r["regime"] == regime}
        probe = BlackBoxReprogrammingClassifier(oracle, max_iter=0, random_state=1).fit(X, y)
        for budget in (1000, 2000):
            # The probe and the pixels spend the same whatever the budget.
            assert got["probe", budget]["accuracy"] == probe.score(X_test, y_test)
            assert got["probe", budget]["queries"] == probe.n_queries_
            assert got["pixels", budget]["queries"] == 0
            alone = BlackBoxReprogrammingClassifier(
                oracle, batch_size=32, max_iter=10**9, max_queries=budget,
                random_state=1).fit(X, y)
            row = got["defaults", budget]
            assert row["queries"] == alone.n_queries_ <= budget
            assert row["n_iter"] == alone.n_iter_ > 0
            assert row["accuracy"] == pytest.approx(alone.score(X_test, y_test))
        # On top five answers the defaults read four views a sample.
        assert probe.n_queries_ == 60 * (4 if regime == "top5" else 1)
    # A new split per seed.
    split_0, split_1 = (benchmark.split(benchmark.parse_task("toy")[1], s) for s in (0, 1))
    assert not np.array_equal(split_0[0], split_1[0])


def test_a_rerun_runs_only_the_rows_missing(benchmark, tmp_path, monkeypatch):
    out = tmp_path / "rows.jsonl"
    args = ["--tasks", "toy", "--regimes", "full", "--methods", "probe,defaults",
            "--seeds", "0", "--out", str(out)]
    benchmark.main(args + ["--budgets", "1000,2000"])
    first = _rows(out)
    assert len(first) == 4
    benchmark.main(args + ["--budgets", "1000,2000"])
    assert _rows(out) == first  # nothing run again

    # A lost row (an interrupted run) is run again alone, with the same figure; a new
    # budget adds its rows.
    out.write_text("".join(json.dumps(r) + "\n" for r in first
                           if (r["method"], r["budget"]) != ("defaults", 2000)))
    fits = []
    run_one = benchmark.run_one

    def counted(*a, **k):
        fits.append(k["checkpoints"])
        return run_one(*a, **k)

    monkeypatch.setattr(benchmark, "run_one", counted)
    benchmark.main(args + ["--budgets", "1000,2000,3000"])
    rows = _rows(out)
    assert fits == [[2000, 3000]]
    added = {(r["method"], r["budget"]): r for r in rows[3:]}
    assert sorted(added) == [("defaults", 2000), ("defaults", 3000), ("probe", 3000)]
    lost = next(r for r in first if (r["method"], r["budget"]) == ("defaults", 2000))
    assert added["defaults", 2000]["accuracy"] == lost["accuracy"]
    assert added["defaults", 2000]["queries"] == lost["queries"]


def test_the_report_is_mean_and_sd_over_seeds(benchmark, tmp_path, capsys):
    out = tmp_path / "rows.jsonl"
    rows = [{"task": "toy@4/8", "regime": regime, "method": method, "seed": seed,
             "budget": budget, "accuracy": accuracy, "queries": 0}
            for regime in ("full", "top5")
            for method, budget, seed, accuracy in [
                ("probe", 3000, 0, 0.70), ("probe", 3000, 1, 0.80),
                ("defaults", 3000, 0, 0.75), ("defaults", 3000, 1, 0.85),
                ("defaults", 10000, 0, 0.90), ("pixels", 3000, 1, 0.5)]]
    out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    benchmark.main(["--report", "--out", str(out)])
    printed = capsys.readouterr().out
    assert "### toy@4/8, full outputs" in printed and "### toy@4/8, top five answers" in printed
    table = printed.split("### toy@4/8, top five answers")[0]
    assert "| budget | probe | defaults | pixels |" in table
    assert ("| 3,000 (2 seeds) | 0.750 ± 0.050 | 0.800 ± 0.050 | 0.500 ± 0.000 (1 seeds) |"
            in table)
    assert "| 10,000 (1 seeds) |  | 0.900 ± 0.000 |  |" in table


@pytest.mark.parametrize("argv, message", [
    (["--tasks", "cifar"], "unknown task 'cifar'; expected one of elpv, animal-mnist, digits"),
    (["--tasks", "elpv@96"], "expected name@EMBED/CANVAS"),
    (["--tasks", "elpv@128/96"], r"the sample \(128 px\) must fit in the canvas \(96 px\)"),
    (["--tasks", "toy", "--methods", "defaults,bar"], "--methods: unknown bar"),
    (["--tasks", "toy", "--regimes", "top1"], "--regimes: unknown top1"),
])
def test_bad_options_are_refused_before_any_query(benchmark, tmp_path, argv, message):
    with pytest.raises(SystemExit, match=message):
        benchmark.main(argv + ["--out", str(tmp_path / "rows.jsonl")])
    assert benchmark.toy_models == {}
    assert not (tmp_path / "rows.jsonl").exists()
