"""skbar.plotting: the displays draw what the estimator learned and the benchmark measured."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from skbar import BlackBoxReprogrammingClassifier
from skbar.oracles import RandomNetworkOracle
from skbar.plotting import save_image_grid

matplotlib = pytest.importorskip(
    "matplotlib", reason="the displays are the optional `plot` extra (pip install 'skbar[plot]')")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skbar.plotting import (  # noqa: E402
    LabelMappingDisplay,
    QueryCurveDisplay,
    ReprogrammingDisplay,
)

RESULTS = pathlib.Path(__file__).parents[1] / "benchmarks" / "results" / "query_efficiency.jsonl"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted():
    from conftest import make_task

    X, y, X_test, y_test = make_task(n_train=60, n_test=20)
    clf = BlackBoxReprogrammingClassifier(RandomNetworkOracle(input_shape=(12, 12, 3)), q=2,
                                          m=2, max_iter=10, batch_size=16, random_state=0)
    clf.fit(X, y)
    # The displays draw a searched program: the fit's check must have shipped it, not
    # the grey frame it started from.
    assert clf.search_check_["kept"] == "searched"
    return clf, X_test, y_test


def test_reprogramming_display_shows_the_program_and_the_canvases_the_oracle_sees(fitted):
    clf, X, y = fitted
    display = ReprogrammingDisplay.from_estimator(clf, X[:4], y[:4], stretch=False)
    assert len(display.axes_) == len(display.images_) == 5
    canvases = clf.reprogram(X[:4])
    for image, canvas in zip(display.images_[1:], canvases):
        np.testing.assert_allclose(image.get_array(), canvas, atol=1e-6)
    program = np.asarray(display.images_[0].get_array())
    window = clf.mask_ == 0
    assert window.any() and np.all(program[window] == 0.5)  # grey where the sample goes
    np.testing.assert_allclose(program[~window], canvases[0][~window], atol=1e-6)
    predicted = clf.predict(X[:4])
    titles = [ax.get_title() for ax in display.axes_]
    assert titles[0] == "program P"
    assert titles[1:] == [f"pred {p} (true {t})" for p, t in zip(predicted, y[:4])]
    # Stretched, the frame spans the whole pixel range; the window stays grey.
    stretched = np.asarray(display.plot(stretch=True).images_[0].get_array())
    assert stretched[~window].min() == 0.0 and stretched[~window].max() == 1.0
    assert np.all(stretched[window] == 0.5)
    assert display.axes_[0].get_title() == "program P (stretched)"
    order = np.argsort(program[~window], kind="stable")  # the same picture, more contrast
    assert np.all(np.diff(stretched[~window][order]) >= -1e-12)


def test_reprogramming_display_draws_on_given_axes_and_refuses_a_wrong_count(fitted, tmp_path):
    clf, X, y = fitted
    fig, axes = plt.subplots(1, 3)
    display = ReprogrammingDisplay.from_estimator(clf, X[:2], label_names={0: "no", 1: "yes"})
    display.plot(ax=axes)
    assert display.figure_ is fig and list(display.axes_) == list(axes)
    assert axes[1].get_title() in ("pred no", "pred yes")
    with pytest.raises(ValueError, match="ax has 2 Axes but 3 panels"):
        display.plot(ax=axes[:2])
    fig.savefig(tmp_path / "program.png")
    assert Image.open(tmp_path / "program.png").size[0] > 100


def test_query_curve_from_estimator_is_the_loss_at_the_queries_of_each_step(fitted):
    clf, X, _ = fitted
    display = QueryCurveDisplay.from_estimator(clf, name="fit")
    line = display.lines_["fit"]
    np.testing.assert_allclose(line.get_ydata(), clf.loss_curve_)
    step = clf.queries_per_step(60)
    np.testing.assert_array_equal(line.get_xdata(), step * np.arange(1, clf.n_iter_ + 1))
    # The search's queries, plus one pass over the 60 training samples before and after.
    assert line.get_xdata()[-1] + 2 * 60 == clf.n_queries_
    assert display.ax_.get_xlabel() == "queries"


def test_query_curve_from_results_averages_the_seeds_with_a_band_and_flat_baselines():
    rows = [
        {"task": "t", "method": "bar", "seed": 0, "points": [
            {"budget": 1000, "queries": 900, "accuracy": 0.5},
            {"budget": 2000, "queries": 1900, "accuracy": 0.7}]},
        {"task": "t", "method": "bar", "seed": 1, "points": [
            {"budget": 1000, "queries": 1000, "accuracy": 0.6},
            {"budget": 2000, "queries": 2000, "accuracy": 0.9}]},
        {"task": "t", "method": "probe", "seed": 0, "queries": 100, "accuracy": 0.8},
        {"task": "t", "method": "probe", "seed": 1, "queries": 100, "accuracy": 0.6},
        {"task": "other", "method": "bar", "seed": 0, "points": [
            {"budget": 1000, "queries": 1000, "accuracy": 0.1}]},
    ]
    display = QueryCurveDisplay.from_results(rows, "t")
    bar = display.lines_["bar"]
    np.testing.assert_allclose(bar.get_xdata(), [950, 1950])
    np.testing.assert_allclose(bar.get_ydata(), [0.55, 0.8])
    band = display.bands_["bar"].get_paths()[0].vertices
    assert band[:, 1].min() == pytest.approx(0.5) and band[:, 1].max() == pytest.approx(0.9)
    np.testing.assert_allclose(display.lines_["probe"].get_ydata(), [0.7, 0.7])
    assert display.ax_.get_xscale() == "log" and display.ax_.get_title() == "t"
    with pytest.raises(ValueError, match="no run of the task 'missing'"):
        QueryCurveDisplay.from_results(rows, "missing")


def test_query_curve_from_the_recorded_benchmark_file():
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines()]
    display = QueryCurveDisplay.from_results(RESULTS, "digits", methods=["paper-bar"])
    assert set(display.lines_) == {"paper-bar", "pixels-logistic", "probe-logistic",
                                   "probe-ridge"}
    runs = [r for r in rows if r["task"] == "digits" and r["method"] == "paper-bar"]
    last = [run["points"][-1]["accuracy"] for run in runs]
    assert display.lines_["paper-bar"].get_ydata()[-1] == pytest.approx(np.mean(last))


def test_label_mapping_display_names_each_mapped_source_label_with_its_weight(fitted):
    clf, _, _ = fitted
    names = [f"source {k}" for k in range(clf.n_source_classes_)]
    display = LabelMappingDisplay.from_estimator(clf, source_names=names)
    texts = [[t.get_text() for t in row] for row in display.texts_]
    assert texts == [[names[k] for k in row] for row in clf.label_map_]
    coef = clf.head_.coef_
    expected = np.take_along_axis(coef, clf.label_map_, axis=1)
    np.testing.assert_allclose(display.image_.get_array(), expected)
    assert [t.get_text() for t in display.ax_.get_yticklabels()] == ["0", "1"]


def test_label_mapping_display_weighs_the_average_mapping_equally(fitted):
    from conftest import make_task

    X, y, _, _ = make_task(n_train=40, n_test=1)
    clf = BlackBoxReprogrammingClassifier(RandomNetworkOracle(), m=3, max_iter=0,
                                          head="average", random_state=0).fit(X, y)
    display = LabelMappingDisplay.from_estimator(clf, max_chars=4)
    np.testing.assert_allclose(display.image_.get_array(), np.full((2, 3), 1 / 3))
    assert display.texts_[0, 0].get_text() == str(clf.label_map_[0, 0])
    long = LabelMappingDisplay(np.array([[0]]), source_names=["a very long name"])
    assert long.plot(max_chars=6).texts_[0, 0].get_text() == "a ver…"


def test_save_image_grid_writes_the_canvases_pixel_for_pixel(tmp_path):
    images = np.random.RandomState(0).rand(3, 5, 4, 1)
    path = save_image_grid(images, tmp_path / "grid.png", n_cols=2, gap=1)
    sheet = np.asarray(Image.open(path))
    assert sheet.shape == (2 * 5 + 1, 2 * 4 + 1, 3)
    np.testing.assert_array_equal(sheet[6:, 5:], 255)  # the empty fourth cell stays white
    np.testing.assert_array_equal(sheet[6:, :4, 0], np.round(images[2, ..., 0] * 255))


def test_importing_skbar_loads_neither_matplotlib_nor_the_lazy_submodules():
    code = ("import sys, skbar; "
            "print(sorted(m for m in ('matplotlib', 'skbar.zoo', 'skbar.datasets', "
            "'skbar.plotting') if m in sys.modules)); "
            "print(skbar.zoo.load.__module__, skbar.datasets.load_image_folder.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out == ["[]", "skbar.zoo._models load_image_folder"]
    import skbar

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        skbar.nope  # noqa: B018
    assert {"zoo", "datasets", "plotting"} <= set(dir(skbar))
