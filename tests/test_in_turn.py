"""Composing the next batch while the oracle answers this one (``InTurn``): the oracle
sees the same calls, in the same order, one at a time; a fit learns the same program for
the same queries; and an error stops the sending where answering in the caller's thread
would, with no call left running."""

import threading
import time

import numpy as np
import pytest
from test_model_input import SIZE, _recording, _short_fit

from skbar import BlackBoxReprogrammingClassifier
from skbar.canvas import Program
from skbar.canvas._program import Canvases
from skbar.oracles import (FunctionOracle, InTurn, OracleError, QueryCounter,
                           RandomNetworkOracle, TopKOracle, _in_turn, answers_off_thread)


class Calls:
    """An oracle that writes down each call: the batch's first value, the thread, and how
    many calls ran at once. Each of the first ``wait_for_next`` calls waits until the
    caller has composed the batch after it, which only a caller composing while the
    oracle answers can do."""

    releases_gil = True

    def __init__(self, n_classes=4, fail_at=None, wait_for_next=0):
        self.n_classes, self.fail_at = n_classes, fail_at
        self.seen, self.threads, self.most_at_once = [], set(), 0
        self.composed = threading.Semaphore(0)
        self.wait_for_next = wait_for_next
        self._running, self._lock = 0, threading.Lock()

    def __call__(self, batch):
        with self._lock:
            self._running += 1
            self.most_at_once = max(self.most_at_once, self._running)
        try:
            self.threads.add(threading.get_ident())
            k = len(self.seen)
            self.seen.append(float(batch[0, 0]))
            if k < self.wait_for_next:
                assert self.composed.acquire(timeout=10), "the next batch was not composed"
            if k == self.fail_at:
                raise RuntimeError("the model server went away")
            return np.full((len(batch), self.n_classes), 1.0 / self.n_classes)
        finally:
            with self._lock:
                self._running -= 1


def _batches(oracle, n):
    for k in range(n):
        batch = np.full((3, 2), float(k))
        if k >= 1:
            oracle.composed.release()  # batch k is composed
        yield batch


def test_the_next_batch_is_composed_while_the_oracle_answers_and_the_calls_stay_in_order():
    oracle = Calls(wait_for_next=4)
    counter = QueryCounter(oracle)
    with InTurn(counter) as in_turn:
        answers = list(in_turn.answers(_batches(oracle, 5)))
    assert in_turn.in_flight == 2
    assert oracle.seen == [0.0, 1.0, 2.0, 3.0, 4.0]  # each batch once, in order
    assert oracle.most_at_once == 1  # one call at a time
    assert threading.get_ident() not in oracle.threads  # answered by the worker
    assert len(answers) == 5 and counter.n_queries == 15


def test_an_oracle_that_does_not_release_the_lock_is_answered_in_the_callers_thread():
    oracle = Calls()
    oracle.releases_gil = False
    with InTurn(QueryCounter(oracle)) as in_turn:
        list(in_turn.answers(_batches(oracle, 3)))
    assert in_turn.in_flight == 1 and oracle.threads == {threading.get_ident()}
    assert not answers_off_thread(FunctionOracle(np.ones, (2, 2, 3)))
    # A top-k cut answers where the oracle it cuts does.
    assert answers_off_thread(TopKOracle(oracle_with_shape(), k=2))


def oracle_with_shape():
    oracle = Calls()
    oracle.input_shape = (2, 2, 3)
    return oracle


def test_each_calling_thread_keeps_one_worker_and_a_forked_child_makes_its_own():
    oracle = Calls()
    for _ in range(2):  # two passes from this thread: one worker
        with InTurn(QueryCounter(oracle)) as in_turn:
            list(in_turn.answers(np.zeros((3, 2)) for _ in range(3)))
    assert len(oracle.threads) == 1
    other = threading.Thread(target=lambda: list(InTurn(oracle).answers(
        np.zeros((3, 2)) for _ in range(2))))
    other.start()
    other.join()
    assert len(oracle.threads) == 2  # another caller, another worker
    # A child forked after a fit has the parent's pool but not its thread: a new one.
    kept = _in_turn._worker()
    _in_turn._workers.pid = -1
    assert _in_turn._worker() is not kept
    assert _in_turn._worker() is _in_turn._worker()


def test_an_error_stops_the_sending_at_the_batch_that_failed():
    oracle = Calls(fail_at=2)
    counter = QueryCounter(oracle)
    received = []
    with pytest.raises(OracleError, match="went away"):
        with InTurn(counter) as in_turn:
            for answer in in_turn.answers(_batches(oracle, 6)):
                received.append(answer)
    # Batches 0 and 1 answered, 2 sent and failed, nothing sent after it: as in turn.
    assert oracle.seen == [0.0, 1.0, 2.0] and len(received) == 2
    assert counter.n_queries == 9  # the failed batch was sent, so it is paid for


def test_two_buffers_in_turn_keep_each_batch_until_the_compose_after_next():
    program = Program((SIZE, SIZE, 3), (8, 8), (4, 4))
    rng = np.random.RandomState(0)
    samples = rng.rand(5, 8, 8, 3).astype(np.float32)
    frames = [program.frame(rng.randn(*program.w_shape)) for _ in range(3)]
    two = Canvases(program, in_flight=2).load(samples)
    first = two.compose(frames[0])
    kept = first.copy()
    second = two.compose(frames[1])  # the other buffer: the first is intact
    np.testing.assert_array_equal(first, kept)
    np.testing.assert_array_equal(second, program.compose(frames[1], samples))
    third = two.compose(frames[2])  # the first buffer again, samples and all
    assert third is first
    np.testing.assert_array_equal(third, program.compose(frames[2], samples))
    # New samples reach both buffers.
    other = rng.rand(5, 8, 8, 3).astype(np.float32)
    two.load(other)
    for frame in frames[:2]:
        np.testing.assert_array_equal(two.compose(frame), program.compose(frame, other))


def test_a_fit_composing_while_the_model_answers_learns_the_same_program(tmp_path):
    path, (X, y), params = _short_fit(tmp_path)
    overlapped = _recording(path)
    assert overlapped.releases_gil
    clf = BlackBoxReprogrammingClassifier(overlapped, **params).fit(X, y)
    in_turn = _recording(path)
    in_turn.releases_gil = False
    reference = BlackBoxReprogrammingClassifier(in_turn, **params).fit(X, y)
    np.testing.assert_array_equal(clf.program_, reference.program_)
    assert clf.n_queries_ == reference.n_queries_ > 0
    assert len(overlapped.sent) == len(in_turn.sent)
    np.testing.assert_array_equal(clf.predict_proba(X), reference.predict_proba(X))


class Slow(RandomNetworkOracle):
    """A model answering from another thread, 20 ms a call, that counts images and calls,
    and how many of its calls run now."""

    releases_gil = True

    def __init__(self):
        super().__init__(input_shape=(8, 8, 1), n_classes=10)
        self.calls, self.images, self.running = 0, 0, 0

    def predict_proba(self, canvases):
        self.running += 1
        try:
            time.sleep(0.02)
            self.calls += 1
            self.images += len(canvases)
            return super().predict_proba(canvases)
        finally:
            self.running -= 1


def test_a_fit_interrupted_while_the_model_answers_waits_for_the_call_and_keeps_its_steps():
    rng = np.random.RandomState(0)
    X, y = rng.rand(40, 16), (rng.rand(40) > 0.5).astype(int)
    losses = []

    def loss(proba, y, class_weight=None):
        # Ctrl-C in the caller's thread at the 10th loss: the step's next candidate is
        # being answered by the worker then.
        losses.append(1)
        if len(losses) == 10:
            raise KeyboardInterrupt
        return float(np.mean(proba[np.arange(len(y)), y]))

    oracle = Slow()
    clf = BlackBoxReprogrammingClassifier(oracle, loss=loss, q=2, batch_size=8, max_iter=10,
                                          random_state=0)
    with pytest.raises(KeyboardInterrupt), pytest.warns(RuntimeWarning, match="interrupted"):
        clf.fit(X, y)
    calls = oracle.calls
    assert oracle.running == 0  # the call in flight ended before fit returned
    time.sleep(0.1)
    assert oracle.calls == calls  # and none began after it
    # SPSA-GC's q=2 reads four candidates a step: two steps told, then the third step's
    # first two read while its third was answered. Every image sent is paid for, and the
    # steps told are kept.
    assert clf.stop_reason_ == "interrupted" and clf.n_iter_ == 2
    assert clf.n_queries_ == oracle.images == 40 + 2 * 4 * 8 + 3 * 8


def test_predictions_composed_while_the_model_answers_equal_those_made_in_turn(tmp_path):
    path, (X, y), params = _short_fit(tmp_path)
    clf = BlackBoxReprogrammingClassifier(_recording(path), **params).fit(X, y)
    many = np.tile(X, (5, 1))  # 200 rows: four chunks of 64 or fewer
    overlapped = clf.predict_proba(many)
    clf.oracle.releases_gil = False
    np.testing.assert_array_equal(overlapped, clf.predict_proba(many))
