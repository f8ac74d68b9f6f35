"""HttpOracle against a hostile server (issue 12, points 1-3, 5 and 11e).

The server is Python's ``http.server`` in a thread of this process
(tests/hostile_server.py): it echoes the key it was sent, drips, floods, and declares
models no client should believe. Every secret test walks the whole exception chain
(``__cause__`` and ``__context__``) and the log, not only the message.
"""

import logging
import time

import numpy as np
import pytest

pytest.importorskip("httpx", reason="HttpOracle needs httpx: pip install 'skbar[http]'")

from hostile_server import HostileServer  # noqa: E402

from skbar import BlackBoxReprogrammingClassifier  # noqa: E402
from skbar.oracles import HttpOracle, OracleError, QueryCounter  # noqa: E402
from skbar.oracles._canvas import CanvasAdapter  # noqa: E402
from skbar.oracles._secrets import redact  # noqa: E402

KEY = "sk-live-5f2a9c1e7b3d4a60-NOT-REAL"
CANVASES = np.random.default_rng(0).random((6, 8, 8, 3), dtype=np.float32)


@pytest.fixture
def server():
    srv = HostileServer(key=KEY).start()
    yield srv
    srv.stop()


def oracle_for(server, **kwargs):
    kwargs = {"api_key": KEY, "max_retries": 0, "backoff": 0.0, "timeout": 5.0, **kwargs}
    return HttpOracle(server.url, "tiny", **kwargs)


def exception_chain(exc):
    """``exc`` and every exception it holds on to."""
    seen = []
    while exc is not None and exc not in seen:
        seen.append(exc)
        exc = exc.__cause__ or exc.__context__
    return seen


def assert_no_part_of_the_key(texts, key=KEY, shortest=6):
    """No substring of ``key`` of ``shortest`` characters or more is in any text."""
    parts = {key[i:i + shortest] for i in range(len(key) - shortest + 1)}
    for text in texts:
        leaked = [p for p in parts if p in text]
        assert not leaked, f"{leaked[0]!r} of the key in {text[:400]!r}"


def shown(exc, caplog=None):
    """Every text a user can see of an error: messages, args, reprs and the log."""
    texts = []
    for e in exception_chain(exc):
        texts += [str(e), repr(e), repr(e.args)]
        assert "httpx" not in type(e).__module__, "an httpx error (it holds the headers)"
    if caplog is not None:
        texts += [r.getMessage() for r in caplog.records]
    return texts


# ----------------------------------------------------------------- point 1
@pytest.mark.parametrize("around", ["\n", "\r\n", " ", "\t \n"])
@pytest.mark.parametrize("source", ["argument", "environment"])
def test_key_with_surrounding_whitespace_is_sent_clean_and_never_shown(
        server, monkeypatch, caplog, around, source):
    if source == "argument":
        oracle = oracle_for(server, api_key=KEY + around)
    else:
        monkeypatch.setenv("SKBAR_API_KEY", around + KEY + around)
        oracle = oracle_for(server, api_key=None)
    scores = oracle.predict_proba(CANVASES)
    assert scores.shape == (6, 4) and server.authorizations[-1] == f"Bearer {KEY}"
    # And when the server refuses, nothing of the key shows.
    server.behaviour = {"mode": "echo", "status": 400}
    with caplog.at_level(logging.DEBUG), pytest.raises(OracleError, match="HTTP 400") as info:
        oracle.predict_proba(CANVASES)
    assert_no_part_of_the_key(shown(info.value, caplog) + [repr(oracle)])


@pytest.mark.parametrize("key, kind", [("sk-abc def", "a space"), ("sk-abc\ndef", "a space"),
                                       ("sk-abc\x00def", "a control character"),
                                       ("sk-abcé-def", "a non-ASCII character")])
def test_key_that_a_header_cannot_carry_is_refused_without_showing_it(key, kind):
    with pytest.raises(ValueError, match=f"api_key holds {kind}") as info:
        HttpOracle("http://127.0.0.1:9", "tiny", api_key=key)
    assert "abc" not in str(info.value) and info.value.__context__ is None


# ----------------------------------------------------------------- point 2
def test_key_echoed_in_a_long_error_is_redacted_before_the_cut_at_every_position(
        server, caplog):
    oracle = oracle_for(server, max_retries=1)
    echoed = f"Bearer {KEY}"
    # _error_text keeps 300 characters: put the key across the cut at every offset,
    # once for a permanent error and once for a retried one (the log line).
    for status in (400, 503):
        for pad in range(300 - len(echoed) - 2, 302):
            server.behaviour = {"mode": "echo", "status": status, "prefix": "x" * pad,
                                "suffix": "y" * 80}
            caplog.clear()
            with caplog.at_level(logging.DEBUG), pytest.raises(OracleError) as info:
                oracle.predict_proba(CANVASES)
            assert_no_part_of_the_key(shown(info.value, caplog))
            assert f"HTTP {status}" in str(info.value)


def test_key_in_a_malformed_answer_is_redacted_before_the_preview_is_cut(server):
    oracle = oracle_for(server)
    # The preview of a malformed answer keeps 120 characters.
    for pad in range(120 - len(KEY) - 2, 122):
        server.behaviour = {"mode": "raw", "body": f"<{'x' * pad}{KEY}{'y' * 50}>".encode()}
        with pytest.raises(OracleError, match="malformed JSON") as info:
            oracle.predict_proba(CANVASES)
        assert_no_part_of_the_key(shown(info.value))


def test_redact_removes_escaped_forms_before_cutting():
    assert redact("b'Bearer sk-1\\n'", ["sk-1\n"]) == "b'Bearer ***'"
    for cut in range(1, 12):
        assert "sk" not in redact("x" * cut + "sk-12345", ["sk-12345"], limit=cut + 2)


# ----------------------------------------------------------------- point 3
@pytest.mark.parametrize("mode", ["drip_body", "drip_headers"])
def test_a_dripping_server_cannot_hold_the_client_past_the_deadline(server, mode):
    oracle = oracle_for(server, timeout=1.0, deadline=1.5)
    oracle.input_shape  # the metadata, before the server turns slow
    server.behaviour = {"mode": mode, "interval": 0.1, "length": 400}
    start = time.monotonic()
    with pytest.raises(OracleError, match=r"longer than deadline=1.5 s; not retried"):
        oracle.predict_proba(CANVASES)
    assert time.monotonic() - start < 3.0  # unbounded, it took 40 s


@pytest.mark.parametrize("declared", [None, 300 * 2**20])
def test_a_flooding_answer_is_refused_past_max_response_bytes(server, declared):
    oracle = oracle_for(server, max_response_bytes=2**20)
    server.behaviour = {"mode": "flood", "declared": declared}
    start = time.monotonic()
    with pytest.raises(OracleError, match=r"more than max_response_bytes=1,048,576"):
        oracle.predict_proba(CANVASES)
    assert time.monotonic() - start < 5.0


def test_metadata_declaring_a_huge_canvas_or_class_count_is_refused(server):
    server.metadata = server.default_metadata()
    server.metadata["inputs"][0]["shape"] = [-1, 20000, 20000, 3]
    oracle = oracle_for(server)
    with pytest.raises(OracleError, match=r"20000x20000 pixels.*max_image_size=4096"):
        oracle.input_shape
    clf = BlackBoxReprogrammingClassifier(oracle, label_map="random", max_iter=1)
    X, y = np.random.default_rng(0).random((10, 16)), np.arange(10) % 2
    with pytest.raises(OracleError, match="max_image_size"):  # before a canvas is made
        clf.fit(X, y)
    assert server.images == 0

    server.metadata = server.default_metadata()
    server.metadata["outputs"][0]["shape"] = [-1, 10**7]
    with pytest.raises(OracleError, match=r"10000000 output classes.*max_classes=100000"):
        oracle_for(server).n_classes


# ----------------------------------------------------------------- point 5
def test_output_auto_is_decided_once_not_per_batch():
    probabilities = np.array([[0.97, 0.02, 0.01], [0.2, 0.3, 0.5]])
    rounded = np.array([[0.97, 0.02, 0.01], [0.5, 0.3, 0.19]])  # a row sums to 0.99
    adapter = CanvasAdapter("NHWC", output="auto")
    first = adapter.to_scores(probabilities)
    second = adapter.to_scores(rounded)
    assert adapter.output_ == "probabilities"
    np.testing.assert_array_equal(first[0], second[0])  # the same image reads the same
    assert second[0, 0] == 0.97  # not re-softmaxed into 0.466

    # Logits first: every later answer is read as logits, and one that looks like
    # probabilities is warned about once.
    adapter = CanvasAdapter("NHWC", output="auto")
    row = np.array([[0.2, 0.3, 0.5]])
    adapter.to_scores(np.array([[2.0, -1.0, 0.5]]))
    with pytest.warns(RuntimeWarning, match="first answer as logits"):
        later = adapter.to_scores(row)
    np.testing.assert_allclose(later, np.exp(row) / np.exp(row).sum())


def test_output_auto_over_http_reads_an_image_the_same_in_any_batch(server):
    def rounded(x):  # probabilities rounded to two decimals; the last row sums to 0.99
        scores = np.round(server.default_scores(x), 2)
        scores[-1] = [0.5, 0.3, 0.19, 0.0]
        return scores

    server.behaviour = {"mode": "ok", "scores": rounded}
    oracle = oracle_for(server)
    in_three, in_two = oracle.predict_proba(CANVASES[:3]), oracle.predict_proba(CANVASES[:2])
    np.testing.assert_array_equal(in_three[0], in_two[0])
    np.testing.assert_allclose(in_three[0], rounded(CANVASES[:2])[0], atol=1e-6)


# ----------------------------------------------------------------- point 11e
def test_non_ascii_key_in_the_environment_is_a_clear_error(server, monkeypatch):
    monkeypatch.setenv("SKBAR_API_KEY", "sk-clé-secrète")
    oracle = oracle_for(server, api_key=None)
    with pytest.raises(OracleError, match="SKBAR_API_KEY holds a non-ASCII character") as info:
        QueryCounter(oracle)(CANVASES)
    assert_no_part_of_the_key(shown(info.value), key="sk-clé-secrète", shortest=4)
    assert server.images == 0
