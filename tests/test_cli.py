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
    assert f"queries={clf.n_queries_ - 40:,d}" in last  # before the final pass
    assert f"loss={loss:.4f}" in last
    assert f"cost={(clf.n_queries_ - 40) * 2.0 / 1000:.2f}" in last
