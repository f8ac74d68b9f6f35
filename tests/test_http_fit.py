"""Whole fits through a real KServe server that fails the way paid prediction APIs fail.

The server, its tiny ONNX model and the fixtures come from tests/test_http_oracle.py
(``bash scripts/setup_test_server.sh`` installs the server). Faults are injected from
the estimator's ``callback``, i.e. between two steps of a running fit; the server counts
every image that reaches it, and every test holds the estimator's books against that
count: ``n_queries_`` is what the API was sent, never more than ``max_queries``, and a
fit that fails keeps its program, on the estimator and in its checkpoint.
"""

import logging
import pickle
import re
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from skbar import BlackBoxReprogrammingClassifier
from skbar.callbacks import CheckpointSaver, QueryCost
from skbar.oracles import OracleError

# The server and its model are this module's own instances of the oracle tests' fixtures.
from test_http_oracle import KEY, oracle_for
from test_http_oracle import model_path, no_leftover_faults, server  # noqa: F401  (fixtures)

BATCH = 8  # target samples per step
Q = 2  # directions per gradient estimate
STEP = (Q + 1) * BATCH  # images one step sends: f(W) and f(W + beta u_j), j = 1..q
PRICE = 1.20  # per 1,000 queries


def reprogrammer(oracle, tmp_path, **params):
    """The estimator under test, checkpointing every two steps."""
    # The paper's one-sided estimator and fixed average, so that a step costs STEP.
    params = {"q": Q, "m": 2, "batch_size": BATCH, "label_map": "random", "max_iter": 8,
              "gradient": "random", "head": "average", "max_queries": 1000,
              "random_state": 0, **params}
    callbacks = [CheckpointSaver(params.pop("checkpoint", tmp_path / "fit.npz"), every=2),
                 QueryCost(params.pop("cost_per_1000", PRICE))]
    if "callback" in params:
        callbacks.append(params.pop("callback"))
    return BlackBoxReprogrammingClassifier(oracle, callbacks=callbacks, **params)


def checkpoint_path(clf):
    return clf.callbacks[0].path


def cost_of(clf):
    return clf.callbacks[1].cost_


def at_step(step, action, programs=None):
    """A callback that runs ``action`` once the fit has taken ``step`` steps.

    It appends a copy of the program after every step to ``programs``, if given.
    """
    def callback(estimator, info):
        if programs is not None:
            programs.append(estimator.program_.copy())
        if info["n_iter"] == step:
            action()
    return callback


def received_since(server, before, expected, settle=2.0):
    """Images the server has received since ``before``.

    A request the client gave up on (a timeout) may still be on its way in: wait up to
    ``settle`` seconds for the count to reach ``expected`` before reading it.
    """
    deadline = time.monotonic() + settle
    while server.images_received() - before < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return server.images_received() - before


def checkpoint_of(clf):
    with np.load(checkpoint_path(clf), allow_pickle=False) as saved:
        return {k: saved[k] for k in saved.files}


def assert_checkpoint_holds(clf):
    """The checkpoint has what the estimator has: the program and the books."""
    saved = checkpoint_of(clf)
    np.testing.assert_array_equal(saved["program"], clf.program_)
    assert int(saved["n_queries"]) == clf.n_queries_
    assert int(saved["n_iter"]) == clf.n_iter_


@pytest.fixture
def data(task):
    X, y, _, _ = task
    return X[:32], y[:32]


# ------------------------------------------------------------ transient faults
def test_503_bursts_and_429_retry_after_mid_fit_complete_and_every_attempt_is_paid(
        server, data, tmp_path):
    oracle = oracle_for(server, max_batch_size=4, max_concurrency=2)
    before = server.images_received()
    clf = reprogrammer(oracle, tmp_path, callback=at_step(2, lambda: server.inject(
        {"status": 503, "error": "overloaded", "times": 3},
        {"status": 429, "retry_after": 1, "error": "slow down"},
        {"status": 503, "times": 1})))

    start = time.monotonic()
    clf.fit(*data)

    assert clf.stop_reason_ == "max_iter" and clf.n_iter_ == 8
    assert time.monotonic() - start >= 1.0  # the server's Retry-After was honoured
    # Five failed requests of 4 images each, paid for and sent again.
    assert oracle.n_retries == 5
    assert clf.n_queries_ == oracle.n_images_sent == 8 * STEP + 5 * 4
    assert received_since(server, before, clf.n_queries_) == clf.n_queries_
    assert_checkpoint_holds(clf)


@pytest.mark.parametrize("slow_attempts, outcome", [(1, "retried"), (2, "error")])
def test_answers_slower_than_the_timeout_are_retried_or_stop_with_a_checkpoint(
        server, data, tmp_path, slow_attempts, outcome):
    oracle = oracle_for(server, max_batch_size=8, max_concurrency=1, timeout=0.4,
                        max_retries=1)
    before = server.images_received()
    clf = reprogrammer(oracle, tmp_path, callback=at_step(
        2, lambda: server.inject({"delay": 1.0, "times": slow_attempts})))

    if outcome == "retried":
        clf.fit(*data)
        assert clf.stop_reason_ == "max_iter" and oracle.n_retries == 1
    else:
        with pytest.raises(OracleError, match=r"failed 2 times; last: ReadTimeout.*"
                                              + re.escape(str(checkpoint_path(clf)))):
            clf.fit(*data)
        assert clf.stop_reason_ == "oracle_error" and clf.n_iter_ == 2
    # The slow attempts reached the server: paid for, their answers lost.
    assert clf.n_queries_ == oracle.n_images_sent == clf.n_iter_ * STEP + slow_attempts * BATCH
    assert received_since(server, before, clf.n_queries_) == clf.n_queries_
    assert_checkpoint_holds(clf)


# ------------------------------------------------------------ fatal faults
def test_malformed_json_mid_fit_is_an_oracle_error_that_keeps_the_program(
        server, data, tmp_path):
    oracle = oracle_for(server, max_batch_size=8, max_concurrency=1)
    programs = []
    before = server.images_received()
    clf = reprogrammer(oracle, tmp_path, callback=at_step(
        3, lambda: server.inject({"malformed": True}), programs))

    with pytest.raises(OracleError, match=r"malformed JSON.*stopped after 3 steps.*"
                                          + re.escape(str(checkpoint_path(clf)))):
        clf.fit(*data)

    assert clf.stop_reason_ == "oracle_error" and clf.n_iter_ == 3
    np.testing.assert_array_equal(clf.program_, programs[-1])
    # Not retried: the malformed answer's batch was paid once, and nothing after it.
    assert clf.n_queries_ == oracle.n_images_sent == 3 * STEP + BATCH
    assert received_since(server, before, clf.n_queries_) == clf.n_queries_
    assert_checkpoint_holds(clf)


def test_server_killed_mid_fit_then_a_new_estimator_resumes_from_the_checkpoint(
        server, data, tmp_path):
    # Killed between two steps, with nothing on the wire, so that every count is exact
    # (test_server_killed_mid_run_then_restarted kills it with requests in flight).
    oracle = oracle_for(server, max_batch_size=8, max_concurrency=1, max_retries=2)
    programs = []
    max_queries = 300
    before = server.images_received()
    first = reprogrammer(oracle, tmp_path, max_queries=max_queries,
                         callback=at_step(3, server.kill, programs))
    try:
        with pytest.raises(OracleError, match=r"failed 3 times; last: ConnectError.*"
                                              r"stopped after 3 steps.*"
                                              + re.escape(str(checkpoint_path(first)))):
            first.fit(*data)

        received = server.images_received() - before
        assert first.stop_reason_ == "oracle_error" and first.n_iter_ == 3
        np.testing.assert_array_equal(first.program_, programs[-1])
        assert received == oracle.n_images_sent == 3 * STEP
        # The three attempts on the dead server were refused at connection: charged
        # before they were tried, refunded when refused.
        assert first.n_queries_ == received
        assert Path(checkpoint_path(first)).exists()
        assert_checkpoint_holds(first)
    finally:
        if server.proc.poll() is not None:
            server.start()

    steps = []
    second = reprogrammer(oracle, tmp_path, max_queries=max_queries, warm_start=True,
                          max_iter=5, callback=lambda est, info: steps.append(info["n_iter"]))
    second.fit(*data)

    assert steps == [4, 5, 6, 7, 8]  # it continued from the saved third step
    assert second.stop_reason_ == "max_iter" and len(second.loss_curve_) == 8
    received = server.images_received() - before
    assert received == oracle.n_images_sent == 8 * STEP
    assert second.n_queries_ == received <= max_queries
    assert cost_of(second) == pytest.approx(second.n_queries_ * PRICE / 1000)
    assert_checkpoint_holds(second)


def test_a_failure_while_choosing_the_frequency_mapping_keeps_the_books(
        server, data, tmp_path):
    oracle = oracle_for(server, max_batch_size=8, max_concurrency=1)
    before = server.images_received()
    # The frequency mapping queries every training sample once; its second request fails.
    server.inject({"delay": 0}, {"malformed": True})
    clf = reprogrammer(oracle, tmp_path, label_map="frequency")

    with pytest.raises(OracleError, match="malformed JSON"):
        clf.fit(*data)

    assert received_since(server, before, 2 * BATCH) == 2 * BATCH  # paid for, both
    assert clf.stop_reason_ == "oracle_error"
    assert clf.n_queries_ == 2 * BATCH
    assert cost_of(clf) == pytest.approx(2 * BATCH * PRICE / 1000)


# ------------------------------------------------------------------ budget
def test_retries_that_exhaust_the_budget_mid_step_stop_at_the_budget(server, data, tmp_path):
    oracle = oracle_for(server, max_batch_size=8, max_concurrency=1)
    programs = []
    max_queries = 3 * STEP + 10  # room for a third step, but not for its retries
    before = server.images_received()
    clf = reprogrammer(oracle, tmp_path, max_queries=max_queries, callback=at_step(
        2, lambda: server.inject({"status": 503, "times": 2}), programs))

    with pytest.warns(RuntimeWarning, match="stopped at the query budget"):
        clf.fit(*data)

    assert clf.stop_reason_ == "max_queries" and clf.n_iter_ == 2
    np.testing.assert_array_equal(clf.program_, programs[-1])  # the lost step is not applied
    # Step 3: f(W) took three attempts (24 images), one direction 8, the next one was
    # refused by the budget before it was sent.
    assert clf.n_queries_ == oracle.n_images_sent == 2 * STEP + 4 * BATCH <= max_queries
    assert received_since(server, before, clf.n_queries_) == clf.n_queries_
    assert_checkpoint_holds(clf)


def test_cost_is_queries_times_price_and_the_progress_bar_shows_it(
        server, data, tmp_path, capsys):
    pytest.importorskip("tqdm", reason="the progress bar is drawn by tqdm when it is installed")
    oracle = oracle_for(server, max_batch_size=8)
    clf = reprogrammer(oracle, tmp_path, max_iter=4, cost_per_1000=25.0, verbose=1).fit(*data)

    assert clf.n_queries_ == 4 * STEP
    assert cost_of(clf) == pytest.approx(clf.n_queries_ * 25.0 / 1000) == 2.4
    bar = capsys.readouterr().err
    assert f"{clf.n_queries_}/1000" in bar and "cost=2.40" in bar


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedule=st.lists(st.tuples(st.integers(1, 5), st.sampled_from(
           ["503", "502", "429", "slow", "malformed", "wrong_shape", "400"])), max_size=4),
       max_queries=st.integers(20, 220), concurrency=st.sampled_from([1, 2]))
def test_whatever_the_faults_the_books_match_the_server_and_the_budget_holds(
        server, data, schedule, max_queries, concurrency):
    faults = {"503": {"status": 503}, "502": {"status": 502},
              "429": {"status": 429, "retry_after": 0}, "slow": {"delay": 0.6},
              "malformed": {"malformed": True}, "wrong_shape": {"wrong_shape": True},
              "400": {"status": 400, "error": "image rejected"}}
    server.control(clear=True)
    oracle = oracle_for(server, max_batch_size=4, max_concurrency=concurrency, timeout=0.3,
                        max_retries=2)

    def inject(estimator, info):
        for step, fault in schedule:
            if step == info["n_iter"]:
                server.inject(faults[fault])

    before = server.images_received()
    with tempfile.TemporaryDirectory() as folder:
        clf = reprogrammer(oracle, Path(folder), max_iter=6, max_queries=max_queries,
                           callback=inject)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a budget reached mid-step
                clf.fit(*data)
        except OracleError as exc:
            assert clf.stop_reason_ == "oracle_error"
            assert str(checkpoint_path(clf)) in str(exc)
        else:
            assert clf.stop_reason_ in ("max_iter", "max_queries")
            if clf.stop_reason_ == "max_iter":
                assert clf.n_iter_ == 6
        event(f"stopped on {clf.stop_reason_}")  # pytest --hypothesis-show-statistics
        assert clf.n_queries_ == oracle.n_images_sent <= max_queries
        assert received_since(server, before, clf.n_queries_) == clf.n_queries_
        assert cost_of(clf) == pytest.approx(clf.n_queries_ * PRICE / 1000)
        assert_checkpoint_holds(clf)


# ------------------------------------------------------------- credentials
def test_the_api_key_is_in_no_checkpoint_repr_params_error_log_or_warning(
        server, data, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)  # httpx's and httpcore's own logs too
    oracle = oracle_for(server, max_batch_size=8, max_concurrency=1, max_retries=1)
    # A careless API echoes the Authorization header in its errors: on retries (logged),
    # when the budget runs out (a warning), and in a fatal error (the exception).
    budgeted = reprogrammer(oracle, tmp_path, max_queries=2 * STEP + 4,
                            checkpoint=tmp_path / "budget.npz", callback=at_step(
                                1, lambda: server.inject({"status": 503, "echo_auth": True})))
    with pytest.warns(RuntimeWarning) as warned:
        budgeted.fit(*data)
    assert budgeted.stop_reason_ == "max_queries"
    clf = reprogrammer(oracle, tmp_path, callback=at_step(2, lambda: server.inject(
        {"status": 503, "echo_auth": True}, {"status": 403, "echo_auth": True})))
    with pytest.raises(OracleError) as error:
        clf.fit(*data)

    assert "Bearer ***" in str(error.value) and "Bearer ***" in caplog.text  # it was echoed
    secret = KEY.encode()
    texts = {
        "error": str(error.value),
        "logs": caplog.text + repr([r.args for r in caplog.records]),
        "warnings": " ".join(str(w.message) for w in warned),
        "repr": repr(clf) + repr(budgeted),
        "get_params": repr(clf.get_params(deep=True)),
    }
    assert {where for where, text in texts.items() if KEY in text} == set()
    for fitted in (clf, budgeted):
        assert secret not in Path(checkpoint_path(fitted)).read_bytes()
        assert secret not in pickle.dumps(fitted.set_params(callbacks=None))
