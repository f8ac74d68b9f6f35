"""HttpOracle against a hostile server (issue 12, points 1-3, 5 and 11e; issue 25,
rows 1-4, 18 and 19).

The server is Python's ``http.server`` in a thread of this process
(tests/hostile_server.py): it echoes the key it was sent, drips, floods, and declares
models no client should believe. Every secret test walks the whole exception chain
(``__cause__`` and ``__context__``) and the log, not only the message.
"""

import json
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import zlib
from pathlib import Path

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


# ======================================================= issue 25, the second round
# A key with the characters escapings change: "/" (JSON "\/"), "&" (Go's "\u0026",
# HTML's "&amp;"), "+" and "=" (percent-encoding).
ODD_KEY = "sk-live/5f2a+9c1e&7b3d=4a60"


def _decoded_views(text):
    """``text`` and what it reads as once JSON, HTML and URL escapes are undone."""
    import html
    import re
    from urllib.parse import unquote

    views = [text]
    for _ in range(3):  # escapes nested up to three deep
        text = re.sub(r"\\+u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
        text = re.sub(r"\\+x([0-9a-fA-F]{2})", lambda m: chr(int(m.group(1), 16)), text)
        text = re.sub(r"\\+([^\w\s])", r"\1", text)
        text = unquote(html.unescape(text))
        views.append(text)
    return views


def assert_no_spelling_of_the_key(texts, key=ODD_KEY, shortest=6):
    assert_no_part_of_the_key([v for t in texts for v in _decoded_views(t)], key, shortest)


# ----------------------------------------------------------------- row 1
def _gzip(data, wbits=31):
    pack = zlib.compressobj(1, zlib.DEFLATED, wbits)
    return pack.compress(data) + pack.flush()


@pytest.fixture(scope="module")
def zeros_gzipped(tmp_path_factory):
    """256 MiB of zeros, gzipped once: 1.1 MB on disk, built a MiB at a time."""
    path = tmp_path_factory.mktemp("bomb") / "zeros.gz"
    pack, block = zlib.compressobj(1, zlib.DEFLATED, 31), bytes(2**20)
    with open(path, "wb") as f:
        for _ in range(256):
            f.write(pack.compress(block))
        f.write(pack.flush())
    return path


_BOMB_CHILD = r"""
import os, resource, sys, zlib
sys.path[:0] = [{tests!r}]
import numpy as np
from hostile_server import HostileServer
from skbar.oracles import HttpOracle, OracleError

def wrap(data, encoding):
    pack = zlib.compressobj(1, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
    return pack.compress(data) + pack.flush()

body = open({inner!r}, "rb").read()       # the first encoding, gzip, applied already
encodings = {encodings!r}
for encoding in encodings[1:]:
    body = wrap(body, encoding)
server = HostileServer().start()
oracle = HttpOracle(server.url, "tiny", max_retries=0, max_response_bytes=2**20)
oracle.input_shape                           # metadata, connection and threads set up
server.behaviour = {{"mode": "raw", "body": body, "headers": {{
    "Content-Type": "application/json", "Content-Encoding": ", ".join(encodings)}}}}
print("BODY", len(body), flush=True)
# What the process maps now plus 128 MiB: the 256 MiB the bomb inflates to cannot fit.
with open("/proc/self/status") as f:
    mapped = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (mapped + 128 * 2**20, resource.RLIM_INFINITY))
try:
    oracle.predict_proba(np.zeros((2, 8, 8, 3), dtype=np.float32))
except OracleError as exc:
    print("REFUSED", exc, flush=True)
print("SENT", oracle.n_images_sent, "SERVER", server.images, flush=True)
"""


@pytest.mark.parametrize("encodings", [["gzip", "gzip"], ["gzip", "deflate", "gzip"]])
def test_gzip_bomb_in_stacked_encodings_is_refused_at_the_cap(zeros_gzipped, encodings):
    # A child process with a capped address space: a client that inflates the bomb
    # whole dies of MemoryError there, not the machine.
    script = _BOMB_CHILD.format(tests=str(Path(__file__).parent), inner=str(zeros_gzipped),
                                encodings=encodings)
    env = {**os.environ, "MALLOC_ARENA_MAX": "2", "OPENBLAS_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]),
                                          os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=120, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    body = int(re.search(r"BODY (\d+)", run.stdout).group(1))
    assert body < 20_000  # kilobytes that declare 256 MiB
    assert re.search(r"REFUSED POST http://127\.0\.0\.1:\d+/v2/models/tiny/infer: the answer "
                     r"passed 1,048,576 bytes, more than max_response_bytes=1,048,576; "
                     r"refused, not retried\.", run.stdout), run.stdout
    assert "SENT 2 SERVER 2" in run.stdout  # the images reached the server: paid


@pytest.mark.parametrize("encodings", [["gzip"], ["deflate"], ["gzip", "deflate"],
                                       ["identity", "gzip"]])
def test_an_encoded_answer_within_the_cap_reads_as_the_plain_one(server, encodings):
    oracle = oracle_for(server)
    plain = oracle.predict_proba(CANVASES)
    # The same answer, encoded; the server reads the batch before it answers.
    body = json.dumps({"model_name": "tiny", "outputs": [
        {"name": "probs", "datatype": "FP32", "shape": [6, 4],
         "data": server.default_scores(CANVASES).ravel().tolist()}]}).encode()
    for encoding in encodings:
        body = {"gzip": _gzip, "deflate": lambda b: _gzip(b, 15),
                "identity": lambda b: b}[encoding](body)
    server.behaviour = {"mode": "raw", "body": body,
                        "headers": {"Content-Encoding": ", ".join(encodings)}}
    np.testing.assert_allclose(oracle.predict_proba(CANVASES), plain, rtol=1e-6)


@pytest.mark.parametrize("header, message", [
    ("br", "Content-Encoding 'br'; only gzip, deflate and identity are read"),
    ("gzip, " * 5 + "gzip", "encoded 6 times over"),
])
def test_an_encoding_that_cannot_be_undone_in_bounded_steps_is_refused(server, header, message):
    oracle = oracle_for(server)
    server.behaviour = {"mode": "raw", "body": b"{}", "headers": {"Content-Encoding": header}}
    with pytest.raises(OracleError, match=re.escape(message) + r".*refused, not retried"):
        oracle.predict_proba(CANVASES)
    assert oracle.n_images_sent == server.images == 6


# ----------------------------------------------------------------- row 2
def _spellings_of(key):
    import html
    from urllib.parse import quote

    return {
        "json \\/": json.dumps(key).strip('"').replace("/", "\\/"),
        "go json \\u0026": json.dumps(key).strip('"').replace("&", "\\u0026")
        .replace("+", "\\u002b").replace("=", "\\u003d"),
        "every char \\u00XX": "".join(f"\\u{ord(c):04X}" for c in key),
        "html &amp;": html.escape(key),
        "html twice": html.escape(html.escape(key)),
        "html numeric": "".join(f"&#{ord(c)};" if not c.isalnum() else c for c in key),
        "percent": quote(key, safe=""),
        "percent lower, twice": quote(quote(key, safe=""), safe="").lower(),
        "json in json": json.dumps(json.dumps(key)).strip('"').replace("/", "\\\\/"),
    }


@pytest.mark.parametrize("spelling", list(_spellings_of(ODD_KEY)))
@pytest.mark.parametrize("status", [400, 503, 200])
def test_key_echoed_in_any_escaping_and_any_field_is_never_shown(spelling, status, caplog):
    srv = HostileServer(key=ODD_KEY).start()
    try:
        echoed = _spellings_of(ODD_KEY)[spelling]
        bodies = [
            # The key in a field the client does not read as the error ...
            '{"detail": {"auth": "Bearer %s"}, "outputs": 3}' % echoed,
            # ... in a list, an HTML page, after a long preamble (the cut).
            '["bad key", "%s"]' % echoed,
            "<html><body><p>Unauthorized: Bearer %s</p></body></html>" % echoed,
            "x" * 100 + "Bearer " + echoed + "y" * 200,
        ]
        oracle = oracle_for(srv, api_key=ODD_KEY, max_retries=1)
        for body in bodies:
            srv.behaviour = {"mode": "raw", "status": status, "body": body.encode()}
            caplog.clear()
            with caplog.at_level(logging.DEBUG), pytest.raises(OracleError) as info:
                oracle.predict_proba(CANVASES)
            texts = shown(info.value, caplog) + [repr(r.args) for r in caplog.records]
            assert_no_spelling_of_the_key(texts)
            if status == 503:  # retried once: the retry's log line was checked too
                assert any("retry 1 of 1" in r.getMessage() for r in caplog.records)
    finally:
        srv.stop()


def test_redact_finds_the_key_in_every_spelling_and_cuts_after():
    for spelling, echoed in _spellings_of(ODD_KEY).items():
        for pad in range(0, 60, 7):
            text = redact("x" * pad + echoed + "y", [ODD_KEY], limit=40)
            assert_no_spelling_of_the_key([text])
            assert "***" in text or pad + 3 > 40, (spelling, text)


# ----------------------------------------------------------------- row 3
@pytest.mark.parametrize("url", [
    "http://alice:s3cr3t-pw-998877@127.0.0.1:9",
    "http://s3cr3t-pw-998877@127.0.0.1:9/",
    "http://127.0.0.1:9/?token=s3cr3t-pw-998877",
    "https://127.0.0.1:9/api?api-version=2&key=s3cr3t-pw-998877",
    "http://127.0.0.1:9/#s3cr3t-pw-998877",
])
def test_credentials_in_the_url_are_refused_with_a_pointer_to_api_key(url, caplog):
    with caplog.at_level(logging.DEBUG), pytest.raises(ValueError, match="api_key=") as info:
        HttpOracle(url, "tiny")
    assert_no_part_of_the_key(shown(info.value, caplog), key="s3cr3t-pw-998877")
    assert "127.0.0.1:9" in str(info.value)  # which URL, without its secret


def test_params_go_on_the_right_path_and_no_logger_sees_the_key(server, caplog):
    oracle = HttpOracle(server.url + "/", "tiny", api_key=KEY, params={"api-version": "2"},
                        max_retries=0)
    with caplog.at_level(logging.DEBUG):  # every logger, httpx and httpcore included
        scores = oracle.predict_proba(CANVASES)
        server.behaviour = {"mode": "echo", "status": 503}
        with pytest.raises(OracleError, match="HTTP 503"):
            oracle_for(server, max_retries=1).predict_proba(CANVASES)
    assert scores.shape == (6, 4)
    assert server.paths[:2] == ["/v2/models/tiny?api-version=2",
                                "/v2/models/tiny/infer?api-version=2"]
    assert any(r.name == "httpx" and "HTTP Request" in r.getMessage() for r in caplog.records)
    assert_no_part_of_the_key([r.getMessage() for r in caplog.records]
                              + [repr(r.args) for r in caplog.records])


# ----------------------------------------------------------------- row 4
@pytest.mark.parametrize("scheme", ["Bearer\n", "Bearer\r\n", " Bearer", "Bearer\u00a0"])
def test_auth_scheme_is_cleaned_like_the_key_and_never_logs_it(server, scheme, caplog):
    oracle = oracle_for(server, auth_scheme=scheme)
    with caplog.at_level(logging.DEBUG):
        assert oracle.predict_proba(CANVASES).shape == (6, 4)
    assert server.authorizations[-1] == f"Bearer {KEY}" and oracle.auth_scheme == "Bearer"
    assert_no_part_of_the_key([r.getMessage() for r in caplog.records]
                              + [repr(r.args) for r in caplog.records])


@pytest.mark.parametrize("scheme, kind", [("Bear er", "a space"),
                                          ("Bear\u00a0er", "a space"),
                                          ("Bearér", "a non-ASCII character"),
                                          ("Bearer\x00", "a control character")])
def test_auth_scheme_a_header_cannot_carry_is_refused_without_the_key(scheme, kind):
    with pytest.raises(ValueError, match=f"auth_scheme holds {kind}") as info:
        HttpOracle("http://127.0.0.1:9", "tiny", api_key=KEY, auth_scheme=scheme)
    assert_no_part_of_the_key(shown(info.value))


# ----------------------------------------------------------------- row 18
@pytest.mark.parametrize("concurrency", [1, 2])
def test_ctrl_c_sends_nothing_more_and_counts_what_was_in_flight(server, concurrency):
    oracle = oracle_for(server, max_batch_size=1, max_concurrency=concurrency, max_retries=3)
    oracle.input_shape
    server.behaviour = {"mode": "ok", "delay": 1.0}
    canvases = np.random.default_rng(1).random((12, 8, 8, 3), dtype=np.float32)
    counter = QueryCounter(oracle)
    interrupted = []

    def ctrl_c(signum, frame):
        interrupted.append(time.monotonic())
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, ctrl_c)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            counter(canvases)
        surfaced = time.monotonic()
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    # The interrupt surfaces at once, not after the requests on the wire answer (0.7 s on).
    assert surfaced - interrupted[0] < 0.5
    time.sleep(1.5)  # what was in flight arrives and is answered
    # Nothing new was sent after Ctrl-C: only the requests already on the wire (one
    # per thread) reached the server, all before the interrupt; unbounded, all 12 did.
    assert server.images == concurrency
    assert all(t < interrupted[0] for t in server.arrivals)
    # And they are counted: charged to the budget and in the oracle's count.
    assert counter.n_queries == oracle.n_images_sent == oracle.n_requests == concurrency


# ----------------------------------------------------------------- row 19
def test_an_answer_wider_or_narrower_than_the_metadata_is_an_oracle_error(server):
    oracle = oracle_for(server)
    assert oracle.n_classes == 4
    server.behaviour = {"mode": "ok", "extra": 3}  # "extra" (3 wide) answered first
    with pytest.raises(OracleError, match=r"answered 3 scores per image \(outputs \['extra', "
                       r"'probs'\]\), but the metadata of model 'tiny' declares 4 classes "
                       r"\(outputs \['probs'\]\).*output_name"):
        oracle.predict_proba(CANVASES)
    # Naming the output reads the right one.
    from skbar.oracles import ScoreVectorResponse
    named = oracle_for(server, response=ScoreVectorResponse("probs"))
    np.testing.assert_allclose(named.predict_proba(CANVASES),
                               server.default_scores(CANVASES), rtol=1e-6)


def test_ctrl_c_mid_fit_keeps_the_books_with_the_server(server):
    oracle = oracle_for(server, max_batch_size=4, max_concurrency=2)
    clf = BlackBoxReprogrammingClassifier(oracle, q=2, batch_size=8, max_iter=50,
                                          random_state=0)
    X, y = np.random.default_rng(2).random((16, 16)), np.arange(16) % 2
    oracle.input_shape
    server.behaviour = {"mode": "ok", "delay": 0.2}
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            clf.fit(X, y)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, previous)
    time.sleep(0.6)  # the requests on the wire at Ctrl-C are answered
    assert clf.stop_reason_ == "interrupted"
    # Every image the server received is in n_queries_, including those in flight.
    assert 0 < server.images == clf.n_queries_ == oracle.n_images_sent
