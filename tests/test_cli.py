import re

import numpy as np
import pytest
from PIL import Image

from skbar.cli import main


@pytest.mark.slow  # about half a minute on two CPU cores
def test_demo_prints_the_table_and_saves_the_figure(tmp_path, capsys):
    png = tmp_path / "demo.png"
    # A small, quick version of `skbar demo`: the real EfficientNet-Lite0 run at 64 pixels.
    code = main(["demo", "--max-queries", "3000", "--image-size", "64", "--embed-size", "48",
                 "--output", str(png)])
    assert code == 0
    out = capsys.readouterr().out
    rows = {name.strip(): (float(acc), int(q.replace(",", "")))
            for name, acc, q in re.findall(r"^(.{50}) +([01]\.\d{3}) +([\d,]+)$", out, re.M)}
    assert len(rows) == 6, out
    bar, queries = rows["BAR, skbar defaults (this fit)"]
    assert 0 < queries <= 3000
    assert 0 < rows["BAR as published (m=10, average mapping)"][1] <= 3000
    assert rows["chance"][0] == 0.1
    assert rows["logistic regression on pixels (white-box data)"][0] > 0.9
    # Well above chance and the paper's fixed mapping, even on a tiny budget.
    assert bar > 0.6 and bar > rows["same model, mapping alone (no program)"][0] + 0.2
    match = re.search(r"queries spent by the fit: ([\d,]+) of 3,000", out)
    assert match and int(match.group(1).replace(",", "")) == queries
    image = np.asarray(Image.open(png))
    assert image.shape[2] in (3, 4) and image.shape[0] >= 64  # RGBA from matplotlib


def test_the_default_oracle_is_the_built_in_efficientnet_lite0(tmp_path, monkeypatch):
    from sklearn.datasets import load_digits

    from skbar import BlackBoxReprogrammingClassifier

    monkeypatch.setenv("SKBAR_CACHE", str(tmp_path))
    X, y = load_digits(return_X_y=True)
    clf = BlackBoxReprogrammingClassifier(sample_shape=(8, 8), embed_size=64, max_iter=0)
    clf.fit(X[:20], y[:20])
    assert clf.canvas_shape_ == (224, 224, 3) and clf.n_source_classes_ == 1000
    assert clf.n_queries_ == 20  # the learned mapping's one query per sample
    assert any(p.name.startswith("efficientnet-lite0") for p in tmp_path.iterdir())


def test_every_option_of_the_demo_has_help_text(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    out = capsys.readouterr().out
    options = re.findall(r"^  (--[a-z-]+)", out, re.M)
    assert {"--model", "--q", "--m", "--batch-size", "--seed", "--output"} <= set(options)
    # Each option's line (or the next, when the option is long) says something.
    for line in re.findall(r"^  --.*(?:\n {20,}.*)?", out, re.M):
        assert re.search(r"[a-z]{3,} [a-z]", line.split("  ", 2)[-1]), line


def test_the_progress_bar_shows_queries_loss_and_cost(capsys):
    from conftest import make_task

    from skbar import BlackBoxReprogrammingClassifier
    from skbar.callbacks import QueryCost
    from skbar.oracles import RandomNetworkOracle

    X, y, _, _ = make_task(n_train=40, n_test=1)
    clf = BlackBoxReprogrammingClassifier(RandomNetworkOracle(), q=2, max_iter=3, verbose=1,
                                          callbacks=[QueryCost(per_1000=2.0)], random_state=0)
    clf.fit(X, y)
    err = capsys.readouterr().err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    loss = clf.loss_curve_[-1]
    # The last line: every query, the final pass's included, and which program shipped.
    assert f"queries={clf.n_queries_:,d}" in last
    assert f"loss={loss:.4f}" in last
    assert f"cost={clf.n_queries_ * 2.0 / 1000:.2f}" in last
    shipped = "searched program" if clf.search_check_["kept"] == "searched" else "start (probe)"
    assert f"shipped={shipped}" in last


def test_version_prints_the_package_version(capsys):
    import skbar

    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"skbar {skbar.__version__}"


def test_python_dash_m_skbar_runs_the_command_line():
    import os
    import subprocess
    import sys
    from pathlib import Path

    import skbar

    root = str(Path(skbar.__file__).resolve().parents[1])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    done = subprocess.run([sys.executable, "-m", "skbar", "--version"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"skbar {skbar.__version__}"
    done = subprocess.run([sys.executable, "-m", "skbar", "demo", "--q", "0"],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2
    assert "argument --q: must be at least 1, got 0" in done.stderr


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"]])
def test_the_help_is_plain_text(args, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "usage: skbar" in out and "demo" in out
    # No reStructuredText markup: double backquotes, roles, or the docstring's own words.
    assert "``" not in out and not re.search(r":[a-z]+:`", out), out


@pytest.mark.parametrize("args, message", [
    (["--output", "missing_dir/x.png"], "argument --output: the folder '.*missing_dir' does "
                                        "not exist"),
    (["--output", "figure.gif"], "argument --output: the figure is a PNG or JPEG file"),
    (["--q", "0"], "argument --q: must be at least 1, got 0"),
    (["--image-size", "0"], "argument --image-size: must be between 32 and 1024, got 0"),
    (["--embed-size", "0"], "argument --embed-size: must be at least 1, got 0"),
    (["--image-size", "64", "--embed-size", "64"],
     r"argument --embed-size: must be smaller than --image-size \(64\)"),
    (["--max-queries", "-5"], "argument --max-queries: must be at least 1, got -5"),
    (["--m", "101"], "argument --m: must be between 1 and 100, got 101"),
    (["--batch-size", "two"], "argument --batch-size: expected an integer, got 'two'"),
])
def test_demo_options_are_usage_errors_before_any_work(args, message, tmp_path, monkeypatch,
                                                      capsys):
    import skbar.zoo

    monkeypatch.chdir(tmp_path)  # missing_dir/ does not exist here
    loaded = []
    monkeypatch.setattr(skbar.zoo, "load", lambda *a, **k: loaded.append(a) or 1 / 0)
    with pytest.raises(SystemExit) as exit_:
        main(["demo"] + args)
    assert exit_.value.code == 2  # argparse's usage error
    err = capsys.readouterr().err
    assert err.startswith("usage: skbar demo")
    assert re.search(message, err), err
    assert loaded == []  # neither the model nor a query


def _fit_with_progress(progress, max_queries=20000, max_iter=10**9):
    from conftest import make_task

    from skbar import BlackBoxReprogrammingClassifier
    from skbar.callbacks import QueryCost
    from skbar.oracles import RandomNetworkOracle

    X, y, _, _ = make_task(n_train=40, n_test=1)
    clf = BlackBoxReprogrammingClassifier(
        RandomNetworkOracle(record=False), q=2, max_iter=max_iter, max_queries=max_queries,
        callbacks=[QueryCost(per_1000=2.0), progress], random_state=0)
    return clf.fit(X, y)


def test_progress_in_a_log_is_a_dozen_lines_not_a_redraw_per_step():
    import io

    from skbar.callbacks import ProgressBar

    log = io.StringIO()  # not a terminal, as a log file or a pipe
    clf = _fit_with_progress(ProgressBar(file=log))
    assert clf.n_iter_ > 100  # a redraw a step would have written a long line
    text = log.getvalue()
    lines = text.splitlines()
    assert "\r" not in text and len(text) < 1500, len(text)
    assert 10 <= len(lines) <= 12  # a line a tenth of the budget, and the end
    percents = [int(re.match(r"queries: +(\d+)%", line).group(1)) for line in lines]
    assert percents == sorted(percents) and percents[-1] >= 99
    assert f"{clf.n_queries_}/20000" in lines[-1]  # ends on every query spent
    assert "loss=" in lines[-1] and "cost=" in lines[-1]


def test_progress_without_a_budget_prints_after_round_step_counts():
    import io

    from skbar.callbacks import ProgressBar

    log = io.StringIO()
    clf = _fit_with_progress(ProgressBar(file=log), max_queries=None, max_iter=60)
    assert clf.n_iter_ == 60
    lines = log.getvalue().splitlines()
    assert len(lines) == 7  # after steps 1, 2, 5, 10, 20 and 50, and at the end
    assert lines[-1].startswith(f"queries: {clf.n_queries_} | ")


def test_progress_on_a_terminal_is_a_bar_redrawn_in_place():
    import io

    from skbar.callbacks import ProgressBar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    screen = Terminal()
    clf = _fit_with_progress(ProgressBar(file=screen), max_queries=3000)
    assert screen.getvalue().count("\r") > clf.n_iter_ // 2  # tqdm redraws the line
    assert f"{clf.n_queries_}/3000" in screen.getvalue().replace("\r", "\n").splitlines()[-1]
