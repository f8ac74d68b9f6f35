"""What a careless user or a tampered file could do, and what skbar does instead (issue 12).

Points 4 and 6-11 of the issue, one test (or more) per point, named after the behaviour;
the HTTP points (1-3, 5, 11e) are in tests/test_http_hardening.py. The last test is the
budget property: whatever the configuration, and whatever a checkpoint file says, the
images an oracle receives never pass ``max_queries``.
"""

import ast
import io
import os
import pickle
import re
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sklearn.model_selection import cross_val_score

from skbar import BlackBoxReprogrammingClassifier, OracleError
from skbar.fit import CheckpointError, load_checkpoint, save_checkpoint
from skbar.callbacks import CheckpointSaver, ProgressBar
from skbar.oracles import FunctionOracle, QueryCounter, RandomNetworkOracle, call_oracle
from skbar.zoo import _models
from skbar.zoo._torch_pickle import load_legacy_state_dict

REPO = Path(__file__).resolve().parents[1]

# The paper's estimator (fixed average, one-sided differences): a step costs
# (q + 1) * batch_size = 3 * 8 = 24 queries, and the random mapping none.
PARAMS = {"head": "average", "gradient": "random", "label_map": "random", "m": 2,
          "q": 2, "batch_size": 8, "random_state": 0}
STEP = 24


def make_clf(oracle=None, **params):
    return BlackBoxReprogrammingClassifier(oracle or RandomNetworkOracle(),
                                           **{**PARAMS, **params})


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.rand(40, 16)
    return X, (X[:, 0] > 0.5).astype(int)


@pytest.fixture
def saved(data, tmp_path):
    """A checkpoint of 4 steps, its path and the fit that wrote it."""
    X, y = data
    path = tmp_path / "fit.npz"
    clf = make_clf(max_iter=4, callbacks=[CheckpointSaver(path)]).fit(X, y)
    return path, clf


def tamper(path, **fields):
    """Rewrite the checkpoint at ``path`` with ``fields`` changed (None removes one)."""
    state = load_checkpoint(path)
    for name, value in fields.items():
        if value is None:
            state.pop(name)
        else:
            state[name] = value
    save_checkpoint(path, state)


def resume(path, oracle, X, y, **params):
    """A new estimator resuming from ``path``; what it raised, if anything."""
    clf = make_clf(oracle, max_iter=3, warm_start=True, callbacks=[CheckpointSaver(path)],
                   **params)
    return clf, clf.fit(X, y)


# ------------------------------------------------------ point 4: checkpoints
@pytest.mark.parametrize("field, value, problem", [
    ("n_queries", np.int64(-100000), r"'n_queries' must be >= 0, got -100000"),
    ("n_iter", np.int64(-1), r"'n_iter' must be >= 0"),
    ("label_map", np.array([[0, -1], [2, 3]]), r"'label_map' must hold source classes in \[0"),
    ("label_map", np.array([[0, 1], [1, 3]]), r"'label_map' maps one source class to two"),
    ("label_map", np.array([[0, 1], [2, 99]]), r"'label_map' must hold source classes in \[0"),
    ("label_map", np.array([[0.5, 1], [2, 3]]), r"'label_map' must hold integers"),
    ("program", np.full((8, 8, 1), np.nan), r"'program' holds NaN"),
    ("rng_keys", np.zeros(3, np.uint32), r"'rng_keys' must have shape \(624,\)"),
    ("data_min", np.float64(1.5), r"'data_min' is larger than data_max"),
    ("program", None, r"'program' is missing"),
    ("rng_pos", None, r"'rng_pos' is missing"),
])
def test_a_tampered_checkpoint_is_refused_before_anything_is_restored_or_paid(
        saved, data, field, value, problem):
    path, _ = saved
    tamper(path, **{field: value})
    oracle = RandomNetworkOracle()
    clf = make_clf(oracle, max_iter=3, warm_start=True, callbacks=[CheckpointSaver(path)])
    with pytest.raises(CheckpointError, match=f"{path.name}'?: field {problem}"):
        clf.fit(*data)
    assert oracle.n_images == 0
    assert not hasattr(clf, "program_")  # not half restored


def test_a_checkpoint_of_another_oracle_is_refused_before_paying(saved, data):
    path, _ = saved
    six_classes = RandomNetworkOracle(n_classes=6)
    with pytest.raises(CheckpointError, match="'n_source_classes' is 10, but the oracle has 6"):
        resume(path, six_classes, *data)
    assert six_classes.n_images == 0
    larger = RandomNetworkOracle(input_shape=(12, 12, 1))
    with pytest.raises(CheckpointError, match=r"'canvas_shape' is \(8, 8, 1\)"):
        resume(path, larger, *data)
    assert larger.n_images == 0


def test_an_oracle_that_hides_its_class_count_is_stopped_at_its_first_answer(saved, data):
    path, _ = saved
    network = RandomNetworkOracle(n_classes=6)
    hidden = FunctionOracle(network.predict_proba, (8, 8, 1))
    clf = make_clf(hidden, max_iter=3, warm_start=True, callbacks=[CheckpointSaver(path)])
    with pytest.raises(OracleError, match="answered 6 scores per image, but 10 before"):
        clf.fit(*data)
    assert network.n_images <= PARAMS["batch_size"]  # one minibatch, no raw numpy error


def test_a_checkpoint_of_another_head_or_m_is_refused(saved, data):
    path, _ = saved
    with pytest.raises(CheckpointError, match="'head' is 'MultiLabelAverage', but "
                                              "this estimator's head is 'LinearHead'"):
        resume(path, RandomNetworkOracle(), *data, head="linear")
    with pytest.raises(CheckpointError, match="'label_map' has m=2 .* has m=3"):
        resume(path, RandomNetworkOracle(), *data, m=3)


def test_a_checkpoint_resumes_on_its_own_training_data_only(saved, data):
    path, _ = saved
    X, y = data
    # Data scaled differently would be saturated by the file's data range.
    with pytest.raises(CheckpointError, match="'data_fingerprint' differs"):
        resume(path, RandomNetworkOracle(), X * 10, y)
    tamper(path, data_max=np.float64(5.0))
    with pytest.raises(CheckpointError, match=r"'data_min' and data_max are \[.*, 5.0\]"):
        resume(path, RandomNetworkOracle(), X, y)


def test_cross_validation_with_a_checkpoint_never_resumes_another_folds_program(
        data, tmp_path):
    X, y = data
    oracle = RandomNetworkOracle()
    clf = make_clf(oracle, max_iter=2, warm_start=True,
                   callbacks=[CheckpointSaver(tmp_path / "cv.npz")])
    # The second fold finds the first fold's file: refused, not continued.
    with pytest.raises(CheckpointError, match="'data_fingerprint' differs.*one per fold"):
        cross_val_score(clf, X, y, cv=2, error_score="raise")


@pytest.mark.parametrize("m", [2, "auto"])
def test_the_untampered_checkpoint_still_resumes_bit_for_bit(data, tmp_path, m):
    X, y = data
    path = tmp_path / "fit.npz"
    make_clf(m=m, max_iter=4, callbacks=[CheckpointSaver(path)]).fit(X, y)
    straight = make_clf(m=m, max_iter=7).fit(X, y)
    _, resumed = resume(path, RandomNetworkOracle(), X, y, m=m)
    np.testing.assert_array_equal(resumed.program_, straight.program_)
    assert resumed.n_queries_ == straight.n_queries_ == 7 * STEP


# -------------------------------------------------- point 6: sample shapes
@pytest.mark.parametrize("fit_shape, predict_shape", [((4, 4), (4, 8)),
                                                      ((4, 4, 3), (4, 4, 1)),
                                                      ((4, 4, 3), (4, 4))])
def test_predict_refuses_samples_of_another_shape_than_fit(fit_shape, predict_shape):
    rng = np.random.RandomState(0)
    X, y = rng.rand(20, *fit_shape), np.arange(20) % 2
    clf = make_clf(RandomNetworkOracle(input_shape=(8, 8, 3)), max_iter=1).fit(X, y)
    other = rng.rand(5, *predict_shape)
    for method in (clf.predict, clf.predict_proba, clf.reprogram):
        with pytest.raises(ValueError, match=re.escape(f"fitted on samples of shape {fit_shape}")):
            method(other)


# ----------------------------------------------- point 7: rescale=False
@pytest.mark.parametrize("X", [np.arange(40 * 16).reshape(40, 16) % 256,  # uint8-like
                               np.linspace(-5, 5, 40 * 16).reshape(40, 16)])
def test_rescale_false_refuses_pixels_outside_0_1(X):
    oracle = RandomNetworkOracle()
    y = np.arange(40) % 2
    with pytest.raises(ValueError, match=r"rescale=False takes X as pixels in \[0, 1\]"):
        make_clf(oracle, rescale=False, max_iter=1).fit(X, y)
    assert oracle.n_images == 0
    clf = make_clf(oracle, rescale=False, max_iter=1).fit(X.clip(0, 1), y)
    with pytest.raises(ValueError, match="rescale=False"):
        clf.predict(X)


def test_rescale_false_clips_the_small_strays_of_a_scaler_fitted_on_other_data():
    rng = np.random.RandomState(0)
    X, y = rng.rand(40, 16), np.arange(40) % 2
    clf = make_clf(rescale=False, max_iter=1).fit(X, y)
    strays = X * 1.2 - 0.1  # a MinMaxScaler's output on test data: [-0.1, 1.1]
    np.testing.assert_array_equal(clf.reprogram(strays), clf.reprogram(strays.clip(0, 1)))


# --------------------------------------------- point 8: the weights reader
def _legacy_file(tmp_path, state):
    torch = pytest.importorskip("torch", reason="writing legacy files needs torch")
    buffer = io.BytesIO()
    torch.save(state, buffer, _use_new_zipfile_serialization=False)
    path = tmp_path / "crafted.pth"
    path.write_bytes(buffer.getvalue())
    return path


def test_weights_reader_refuses_a_view_larger_than_its_storage(tmp_path):
    torch = pytest.importorskip("torch", reason="writing a crafted weights file needs torch")
    # One float viewed as 20000x20000 with stride 0: 1.6 GB from a few hundred bytes.
    path = _legacy_file(tmp_path, {"w": torch.zeros(1).expand(20000, 20000)})
    assert path.stat().st_size < 1000
    with pytest.raises(ValueError, match=r"400000000 elements\) views a storage of 1"):
        load_legacy_state_dict(path)


def test_weights_reader_caps_what_a_file_may_expand_to(tmp_path):
    torch = pytest.importorskip("torch", reason="writing a crafted weights file needs torch")
    shared = torch.zeros(2**17)  # 512 KiB, viewed whole by 12 tensors: 6 MiB
    path = _legacy_file(tmp_path, {f"w{i}": shared for i in range(12)})
    with pytest.raises(ValueError, match="at most 4 times the file's size"):
        load_legacy_state_dict(path)


def test_every_torch_load_asks_for_weights_only():
    calls = []
    for folder in ("skbar", "examples", "benchmarks", "experiments", "scripts", "tests"):
        for path in (REPO / folder).rglob("*.py"):
            if ".venv" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "load"
                        and getattr(node.func.value, "id", None) == "torch"):
                    safe = any(k.arg == "weights_only" and getattr(k.value, "value", None) is True
                               for k in node.keywords)
                    calls.append((str(path.relative_to(REPO)), node.lineno, safe))
    assert calls, "no torch.load found: the scan is broken"
    assert all(safe for *_, safe in calls), [c for c in calls if not c[2]]


# ---------------------------------------------- point 9: the model cache
def test_a_cached_model_that_no_longer_matches_its_sha256_is_rebuilt(monkeypatch, tmp_path):
    monkeypatch.setenv("SKBAR_CACHE", str(tmp_path))
    built = []
    model = bytes(range(256)) * 64

    def build(*args):
        built.append(args)
        return model

    monkeypatch.setattr(_models, "_weights_path", lambda name: str(tmp_path / "w.pth"))
    monkeypatch.setattr(_models, "_build", build)
    # A file with 64 flipped bytes still parses as ONNX: only the digest tells.
    monkeypatch.setattr(_models, "_is_complete", lambda *args: True)
    path = _models.model_path("efficientnet-lite0")
    assert Path(path + ".sha256").read_text().strip() == _models._sha256(model)
    assert _models.model_path("efficientnet-lite0") == path and len(built) == 1

    damaged = bytearray(model)
    for i in range(1000, 1064):
        damaged[i] ^= 0xFF
    Path(path).write_bytes(bytes(damaged))
    with pytest.warns(RuntimeWarning, match="does not match its SHA-256"):
        _models.model_path("efficientnet-lite0")
    assert len(built) == 2 and Path(path).read_bytes() == model


# ---------------------------------------------------------- point 10: Ctrl-C
def test_ctrl_c_stops_the_fit_saves_the_checkpoint_and_reaches_the_callers_loop(
        data, tmp_path):
    X, y = data
    oracle = RandomNetworkOracle()

    def ctrl_c_at_step_3(estimator, info):
        if info["n_iter"] == 3:
            raise KeyboardInterrupt

    fitted = []
    with pytest.warns(RuntimeWarning, match="interrupted after 3 steps"), \
            pytest.raises(KeyboardInterrupt):
        for seed in range(3):  # a user's script: it must stop at the first Ctrl-C
            path = tmp_path / f"fit{seed}.npz"
            clf = make_clf(oracle, max_iter=50, random_state=seed,
                           callbacks=[CheckpointSaver(path, every=100), ctrl_c_at_step_3])
            fitted.append(clf)
            clf.fit(X, y)
    assert len(fitted) == 1 and oracle.n_images == 3 * STEP
    clf = fitted[0]
    assert clf.stop_reason_ == "interrupted" and clf.n_iter_ == 3
    assert int(load_checkpoint(tmp_path / "fit0.npz")["n_iter"]) == 3  # saved on the way out
    _, resumed = resume(tmp_path / "fit0.npz", RandomNetworkOracle(), X, y)
    assert resumed.n_iter_ == 6


# ------------------------------------------------------ point 11: smaller
def test_huge_scores_are_normalised_not_overflowed_into_zero_rows():
    oracle = FunctionOracle(lambda c: np.array([[1e308, 1e308, 0.0]] * len(c)), (2, 2, 1))
    scores = call_oracle(oracle, np.zeros((2, 2, 2, 1), np.float32))
    np.testing.assert_array_equal(scores, [[0.5, 0.5, 0.0]] * 2)


def test_an_oracle_changing_its_number_of_classes_mid_fit_is_an_oracle_error(data):
    network, calls = RandomNetworkOracle(), []

    def shrinking(canvases):
        calls.append(len(canvases))
        scores = network.predict_proba(canvases)
        return scores if len(calls) <= 5 else scores[:, :6]

    clf = make_clf(FunctionOracle(shrinking, (8, 8, 1)), max_iter=10)
    with pytest.raises(OracleError, match="answered 6 scores per image, but 10 before"):
        clf.fit(*data)
    assert clf.stop_reason_ == "oracle_error"


def test_stop_reason_says_error_when_a_callback_raises(data):
    def broken(estimator, info):
        raise RuntimeError("callback bug")

    clf = make_clf(max_iter=5, callbacks=[broken])
    with pytest.raises(RuntimeError, match="callback bug"):
        clf.fit(*data)
    assert clf.stop_reason_ == "error"


def test_an_unwritable_checkpoint_fails_the_fit_before_any_query(data, tmp_path):
    folder = tmp_path / "a-folder.npz"
    folder.mkdir()  # the path is a folder: no file can be written there
    oracle = RandomNetworkOracle()
    clf = make_clf(oracle, max_iter=50, callbacks=[CheckpointSaver(folder, every=5)])
    with pytest.raises(OSError, match="CheckpointSaver cannot write .*nothing was queried"):
        clf.fit(*data)
    assert oracle.n_images == 0


def test_an_oracle_cannot_refund_more_than_it_was_charged():
    class Refunder:
        charges_queries = True
        input_shape = (2, 2, 1)

        def predict_proba(self, canvases, charge):
            charge(len(canvases))
            charge(-3 * len(canvases))
            return np.ones((len(canvases), 3))

    counter = QueryCounter(Refunder(), max_queries=100)
    with pytest.raises(OracleError, match="refund 6 images but was charged 2"):
        counter(np.zeros((2, 2, 2, 1), np.float32))
    assert counter.n_queries == 2


class RetryingOracle(RandomNetworkOracle):
    """Charges every third image twice, as an HTTP oracle charges its retries."""

    charges_queries = True

    def predict_proba(self, canvases, charge=None):
        charge(len(canvases) + len(canvases) // 3)
        return super().predict_proba(canvases)


def test_progress_bar_ends_on_every_query_spent_retries_included(data, capsys):
    clf = make_clf(RetryingOracle(), max_iter=100, max_queries=400, callbacks=[ProgressBar()])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        clf.fit(*data)
    assert clf.n_queries_ > 368  # retries counted
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert f"{clf.n_queries_}/400" in last, last


@pytest.mark.parametrize("content, problem", [
    (b"not a zip file at all", "BadZipFile|pickled"),
    (b"PK\x03\x04" + b"\x00" * 40, "BadZipFile|EOFError|ValueError"),
])
def test_a_corrupt_checkpoint_file_is_named_in_the_error(data, tmp_path, content, problem):
    path = tmp_path / "fit.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=rf"{path.name}' cannot be read .*({problem})"):
        resume(path, RandomNetworkOracle(), *data)


def test_a_checkpoint_holding_a_pickle_is_named_and_refused(data, tmp_path):
    path = tmp_path / "fit.npz"
    with zipfile.ZipFile(path, "w") as archive:
        buffer = io.BytesIO()
        np.save(buffer, np.array([object()], dtype=object), allow_pickle=True)
        archive.writestr("program.npy", buffer.getvalue())
    with pytest.raises(CheckpointError, match=f"{path.name}' cannot be read"):
        resume(path, RandomNetworkOracle(), *data)


# ---------------------------------------------------- the budget property
TAMPERINGS = {
    "n_queries": lambda rng, s: np.int64(rng.randint(-10**6, 10**6)),
    "n_iter": lambda rng, s: np.int64(rng.randint(-100, 100)),
    "label_map": lambda rng, s: rng.randint(-3, 14, size=s["label_map"].shape),
    "data_min": lambda rng, s: np.float64(rng.uniform(-2, 2)),
    "rng_pos": lambda rng, s: np.int64(rng.randint(-5, 700)),
    "canvas_shape": lambda rng, s: np.array([8, 8, rng.randint(0, 3)]),
    "program": lambda rng, s: None,
    "nothing": lambda rng, s: None,
}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(q=st.integers(1, 4), batch_size=st.integers(2, 16), max_iter=st.integers(0, 8),
       max_queries=st.integers(1, 1500), resume_budget=st.integers(1, 1500),
       mapping=st.sampled_from(["random", "frequency"]),
       output_mapping=st.sampled_from(["average", "iterative", "linear"]),
       gradient=st.sampled_from(["random", "spsa"]),
       tampering=st.sampled_from(sorted(TAMPERINGS)), seed=st.integers(0, 2**16))
def test_images_sent_never_pass_max_queries_even_from_tampered_checkpoints(
        tmp_path_factory, q, batch_size, max_iter, max_queries, resume_budget, mapping,
        output_mapping, gradient, tampering, seed):
    rng = np.random.RandomState(seed)
    X, y = rng.rand(24, 16), np.arange(24) % 2
    path = tmp_path_factory.mktemp("budget") / "fit.npz"
    params = {"q": q, "batch_size": batch_size, "label_map": mapping, "gradient": gradient,
              "head": output_mapping, "random_state": seed}
    oracle = RandomNetworkOracle()
    clf = make_clf(oracle, max_iter=max_iter, max_queries=max_queries,
                   callbacks=[CheckpointSaver(path, every=2)], **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            clf.fit(X, y)
        except ValueError as exc:  # the label mapping alone would pass the budget
            assert "max_queries" in str(exc) and oracle.n_images == 0
            event("the label mapping alone passes the budget")
            return
    assert oracle.n_images == clf.n_queries_ <= max_queries
    if not os.path.exists(path):
        event("no checkpoint written")
        return

    state = load_checkpoint(path)
    changed = TAMPERINGS[tampering](rng, state)
    if tampering != "nothing":
        tamper(path, **{tampering: changed})
    claimed = int(load_checkpoint(path).get("n_queries", 0))
    second = RandomNetworkOracle()
    resumed = make_clf(second, max_iter=max_iter, max_queries=resume_budget, warm_start=True,
                       callbacks=[CheckpointSaver(path, every=2)], **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            resumed.fit(X, y)
        except CheckpointError:
            assert second.n_images == 0
            event(f"tampered {tampering}: refused")
            return
    event(f"tampered {tampering}: resumed")
    # What the file says was spent, plus what this fit sent, within the budget.
    assert claimed >= 0
    assert resumed.n_queries_ == claimed + second.n_images
    assert second.n_images <= max(0, resume_budget - claimed)


def test_pickled_estimators_from_before_still_predict(data):
    clf = make_clf(max_iter=1).fit(*data)
    old = pickle.loads(pickle.dumps(clf))
    del old.sample_shape_in_  # as an estimator pickled by an earlier skbar
    assert old.predict(data[0]).shape == (40,)
