"""An oracle behind an Open Inference Protocol (v2) REST endpoint: KServe, Triton,
Seldon MLServer, or any paid prediction API that speaks it.

Queries to such an oracle cost money and fail in the ways networks fail, so this
client batches, runs a few requests at once, keeps to a rate limit, retries what is
worth retrying, and asks the budget (``charge``) before every single attempt.
"""

import copy
import logging
import os
import random
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from urllib.parse import quote, urlsplit, urlunsplit

import numpy as np

from ._base import OracleError
from ._canvas import CanvasAdapter, canvas_shape_from_model, resolve_layout
from ._http_v2 import decode_response, encode_request, numpy_dtype, parse_metadata
from ._responses import ScoreVectorResponse
from ._retries import RequestsMixin, TokenBucket, _Cancelled, parse_retry_after  # noqa: F401
# (parse_retry_after is re-exported: it was part of this module)
from ._secrets import Secret, clean_key, redact

logger = logging.getLogger("skbar.oracles.http")

DEFAULT_BATCH_SIZE = 32

# What a server's metadata may declare before it is believed (see the parameters).
DEFAULT_MAX_IMAGE_SIZE = 4096
DEFAULT_MAX_CLASSES = 100_000
DEFAULT_MAX_RESPONSE_BYTES = 64 * 2**20

def _public_url(url):
    """The URL without user info, query or fragment: what may be shown or logged."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class HttpOracle(RequestsMixin):
    """A black-box image classifier behind an Open Inference Protocol (v2) REST API.

    Canvases are sent as the model's input tensor (``POST /v2/models/{name}/infer``)
    and the answers turned into class scores. The model's input name, shape and
    datatype are read from its metadata (``GET /v2/models/{name}``) on first use.

    Every attempt to send images, retries included, is first charged to the budget
    (see ``predict_proba``), so the budget holds whatever the network does.

    Parameters
    ----------
    url : str
        The server's base URL, e.g. ``"https://api.example.com"``. A URL holding
        credentials (``user:password@host``) or a query string (``?token=...``) is
        refused: HTTP clients log URLs, so keys go in ``api_key``, and parameters
        that are not secret in ``params``.
    model_name : str
        The model's name on the server.
    model_version : str, optional
        A model version; the server's default when None.
    api_key : str, optional
        The API key. Never shown by ``repr``, never pickled, redacted from every
        error message, log line and chained exception. Whitespace around it (the
        ``"\\n"`` of a key read from a file) is dropped; a key with a space, control
        or non-ASCII character inside is refused. When None, it is read from
        ``api_key_env``.
    api_key_env : str or None, default="SKBAR_API_KEY"
        The environment variable holding the key, read when the connection opens
        (also after unpickling, e.g. in a joblib worker), and cleaned the same way.
    auth_scheme : str or None, default="Bearer"
        The key is sent as ``"{auth_scheme} {key}"``; as the bare key when None.
        Cleaned like the key: whitespace around it is dropped, and a scheme with a
        space, control or non-ASCII character inside is refused.
    auth_header : str, default="Authorization"
        The header carrying the key (``"x-api-key"`` for some APIs).
    headers : dict, optional
        Other headers sent with every request. Not secret: keys belong in ``api_key``.
    params : dict, optional
        Query parameters sent with every request (``{"api-version": "2"}``). Not
        secret: HTTP clients log them with the URL.
    layout : {"auto", "NCHW", "NHWC"}, default="auto"
        The model's input layout; ``"auto"`` reads it off the metadata's input shape.
    channel_order : {"RGB", "BGR"}, default="RGB"
    scale : float, default=1.0
        The ``[0, 1]`` canvas is multiplied by it first (e.g. 255).
    mean, std : sequence of float, optional
        Per-channel normalisation applied after scaling.
    output : {"auto", "probabilities", "logits"}, default="auto"
        How to read a full score vector; logits go through a softmax.
    response : response adapter, optional
        Turns the answer into scores: :class:`ScoreVectorResponse` (the full vector,
        the default) or :class:`TopKResponse` for servers that answer only their top
        labels.
    max_batch_size : int, optional
        Most images in one request: the server's limit. By default the model's fixed
        batch size if its metadata has one, else 32.
    max_concurrency : int, default=4
        Most requests in flight at once.
    rate_limit : float, optional
        Most requests started per second, retries included.
    timeout : float, default=30.0
        Seconds of silence allowed: to connect, and between two reads or writes of
        the socket. It bounds the gap between the server's bytes, not the whole
        request: a server that sends a byte every few seconds never trips it (that
        is ``deadline``'s job). A timeout is retried.
    deadline : float, default=120.0
        Seconds one attempt may take in all, from sending to the last byte of the
        answer, however the server spaces its bytes. An answer later than that is
        an :class:`OracleError`, not retried. Lower it with ``timeout`` to bound how
        long a slow server can hold a call.
    max_response_bytes : int, default=64 MiB
        The largest answer accepted, counted after its ``Content-Encoding`` is undone,
        as the bytes are decoded (a few kilobytes of ``gzip, gzip`` cannot inflate
        to gigabytes first). Refused (an :class:`OracleError`, not retried) once it
        passes the cap.
    max_image_size : int, default=4096
        The largest canvas height or width believed from the model metadata; a
        larger one is an :class:`OracleError` before any image is made.
    max_classes : int, default=100_000
        The most source classes believed from the metadata or an answer.
    max_retries : int, default=5
        Retries of a batch after connection errors, timeouts, HTTP 429 and 5xx.
    backoff : float, default=0.5
        The first retry waits about this long (with jitter: 0.5x to 1.5x), each next
        one twice as long.
    max_backoff : float, default=60.0
        The longest wait before a retry. A server asking (``Retry-After``) for a
        longer wait gets an :class:`OracleError` instead of more requests.
    binary : bool, default=False
        Send and receive tensors with the binary tensor extension (smaller and faster
        than JSON) instead of JSON lists.
    input_shape : tuple of int, optional
        The canvas ``(H, W, C)``, needed only when the model's spatial size is dynamic.
    input_name : str, optional
        The model's input name. With ``input_shape`` and an explicit ``layout`` it
        spares the metadata request, for APIs that do not expose metadata (the input
        is then sent as FP32).
    verify : bool or str, default=True
        TLS certificate verification, or a CA bundle path.

    Attributes
    ----------
    input_shape : tuple of int
        The canvas shape ``(H, W, C)``.
    n_classes : int or None
        Number of source classes K.
    n_images_sent : int
        Images in every inference request that may have reached the server, failed
        ones included. Attempts refused at connection time are not counted here, and
        are refunded to the budget: they provably cost nothing.
    n_requests : int
        Inference requests that may have reached the server.
    n_retries : int
        Attempts that repeated a failed one.

    See Also
    --------
    OnnxOracle : the same model run in-process.
    TopKResponse : for servers that answer their top labels only.

    Notes
    -----
    Retried: connection errors, timeouts, HTTP 429 and 5xx (except 501 and 505),
    after ``Retry-After`` when the server sends one, else after an exponential
    backoff with jitter. Not retried, an :class:`OracleError` at once: other 4xx
    (naming the status and the server's error text), and answers that are not valid
    v2 JSON or have the wrong shape, since sending the same images again would be
    paid again and most likely answered the same. An answer with another number of
    scores per image than the model metadata declares is an :class:`OracleError`.

    Ctrl-C (``KeyboardInterrupt``) stops a call at once: no request starts after it,
    no failed one is retried. Requests already sent are paid for (the budget was
    charged before each left) and counted in ``n_images_sent``; their answers are
    dropped.

    The HTTP connection pool opens on first use and is left out of pickles and
    copies, so the oracle clones, pickles and travels to joblib workers. The key
    travels in copies made in the same process (``sklearn.base.clone``), never in
    pickles: in worker processes it comes from ``api_key_env``.

    Examples
    --------
    >>> from skbar.oracles import HttpOracle  # doctest: +SKIP
    >>> oracle = HttpOracle("http://127.0.0.1:8080", "resnet", scale=255,
    ...                     max_batch_size=16, rate_limit=5)  # doctest: +SKIP
    >>> oracle.predict_proba(canvases).shape  # doctest: +SKIP
    (64, 1000)
    """

    charges_queries = True

    def __init__(self, url, model_name, *, model_version=None, api_key=None,
                 api_key_env="SKBAR_API_KEY", auth_scheme="Bearer", auth_header="Authorization",
                 headers=None, params=None, layout="auto", channel_order="RGB", scale=1.0,
                 mean=None, std=None, output="auto", response=None, max_batch_size=None,
                 max_concurrency=4, rate_limit=None, timeout=30.0, deadline=120.0,
                 max_response_bytes=DEFAULT_MAX_RESPONSE_BYTES,
                 max_image_size=DEFAULT_MAX_IMAGE_SIZE, max_classes=DEFAULT_MAX_CLASSES,
                 max_retries=5, backoff=0.5, max_backoff=60.0, binary=False,
                 input_shape=None, input_name=None, verify=True):
        self.url = str(url).rstrip("/")
        self.model_name = model_name
        self.model_version = model_version
        if not isinstance(api_key, Secret):
            api_key = Secret(clean_key(api_key, "api_key"))
        self._api_key = api_key
        self.api_key_env = api_key_env
        # Cleaned like the key: the scheme travels in the same header, and a "\n" or a
        # non-ASCII space in it makes the HTTP client print the header, key included.
        self.auth_scheme = clean_key(auth_scheme, "auth_scheme")
        self.auth_header = auth_header
        self.headers = dict(headers or {})
        self.params = dict(params or {})
        self.layout = layout
        self.channel_order = channel_order
        self.scale = scale
        self.mean = mean
        self.std = std
        self.output = output
        self.response = response
        self.max_batch_size = max_batch_size
        self.max_concurrency = max_concurrency
        self.rate_limit = rate_limit
        self.timeout = timeout
        self.deadline = deadline
        self.max_response_bytes = max_response_bytes
        self.max_image_size = max_image_size
        self.max_classes = max_classes
        self.max_retries = max_retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.binary = binary
        self._input_shape = None if input_shape is None else tuple(int(s) for s in input_shape)
        self.input_name = input_name
        self.verify = verify
        self.n_images_sent = 0
        self.n_requests = 0
        self.n_retries = 0
        self._meta = None
        self._reset_transient()
        self._validate()

    def _validate(self):
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"url must start with http:// or https://, got "
                             f"{_public_url(self.url)!r}.")
        # httpx logs every request's full URL at INFO: nothing secret may be in it.
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                f"url {_public_url(self.url)!r} holds credentials (user:password@); HTTP "
                "clients log URLs. Pass the key as api_key= (or in $SKBAR_API_KEY); for "
                "HTTP Basic, api_key=base64('user:password') with auth_scheme='Basic'.")
        if parts.query or parts.fragment:
            raise ValueError(
                f"url {_public_url(self.url)!r} holds a query string or fragment "
                "(not shown); HTTP clients log URLs. Pass a key as api_key= (with "
                "auth_header= for an API that reads it from another header), and "
                "parameters that are not secret as params={...}.")
        if not isinstance(self.auth_header, str) or not self.auth_header or any(
                not " " < c <= "~" or c in '()<>@,;:\\"/[]?={}' for c in self.auth_header):
            raise ValueError(f"auth_header must be an HTTP header name, got "
                             f"{self.auth_header!r}.")
        for name, low in (("max_concurrency", 1), ("max_retries", 0),
                          ("max_response_bytes", 1), ("max_image_size", 1), ("max_classes", 1)):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")
        if self.max_batch_size is not None and (
                not isinstance(self.max_batch_size, (int, np.integer)) or self.max_batch_size < 1):
            raise ValueError(f"max_batch_size must be a positive integer or None, got "
                             f"{self.max_batch_size!r}.")
        for name in ("timeout", "deadline", "rate_limit"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value!r}.")
        if not (self.backoff >= 0 and self.max_backoff >= 0):
            raise ValueError("backoff and max_backoff must be non-negative.")

    # ------------------------------------------------------------------ state
    # The connection pool, the locks and the rate limiter belong to one process and
    # one object: never pickled, never copied; each copy opens its own on first use.
    _TRANSIENT = ("_client", "_pid", "_lock", "_bucket", "_rng")

    def _reset_transient(self):
        self._client = None
        self._pid = None
        self._lock = threading.Lock()
        self._bucket = None
        self._rng = random.Random()

    def __getstate__(self):
        state = {k: v for k, v in self.__dict__.items() if k not in self._TRANSIENT}
        state["_api_key"] = Secret()  # re-read from api_key_env after unpickling
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._reset_transient()

    def __deepcopy__(self, memo):
        new = self.__class__.__new__(self.__class__)
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            if k not in self._TRANSIENT:
                new.__dict__[k] = copy.deepcopy(v, memo)
        new._reset_transient()
        return new

    def close(self):
        """Close the connection pool (it reopens on next use)."""
        client, self._client = self._client, None
        if client is not None and self._pid == os.getpid():
            client.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __repr__(self):
        extra = f", model_version={self.model_version!r}" if self.model_version else ""
        extra += ", binary=True" if self.binary else ""
        return f"HttpOracle({_public_url(self.url)!r}, {self.model_name!r}{extra})"

    @property
    def api_key(self):
        """The key given, masked: its repr is ``'***'``; it never pickles."""
        return self._api_key

    # --------------------------------------------------------------- plumbing
    def _key(self):
        key = self._api_key.get()
        if not key and self.api_key_env:
            key = clean_key(os.environ.get(self.api_key_env),
                            f"The environment variable {self.api_key_env}")
        return key

    def _redact(self, text, limit=None):
        """``text`` without the key, in any form (see :func:`redact`), cut to ``limit``."""
        keys = [self._api_key.get()]
        if self.api_key_env:
            raw = os.environ.get(self.api_key_env)
            keys += [raw, raw.strip() if raw else None]
        return redact(text, keys, limit=limit)

    def _model_path(self):
        path = f"/v2/models/{quote(str(self.model_name), safe='')}"
        if self.model_version:
            path += f"/versions/{quote(str(self.model_version), safe='')}"
        return path

    def _http(self):
        # A forked child must not share its parent's sockets: reopen on a new pid.
        if self._client is None or self._pid != os.getpid():
            try:
                from ._transport import make_client
            except ImportError:
                raise ImportError("HttpOracle needs the httpx package: "
                                  "pip install 'skbar[http]' (or pip install httpx).") from None

            headers = {"User-Agent": "skbar", **self.headers}
            key = self._key()
            if key:
                headers[self.auth_header] = f"{self.auth_scheme} {key}" if self.auth_scheme else key
            self._client = make_client(base_url=self.url, headers=headers, verify=self.verify,
                                       timeout=self.timeout, params=self.params,
                                       max_connections=int(self.max_concurrency))
            self._pid = os.getpid()
        if self._bucket is None:
            self._bucket = TokenBucket(self.rate_limit)
        return self._client

    def _prepare(self):
        """Read the model metadata once and set up the canvas and response adapters."""
        if self._meta is not None:
            return self._meta
        if self.input_name is not None and self._input_shape is not None and self.layout != "auto":
            meta = {"input_name": self.input_name, "input_shape": None,
                    "input_datatype": "FP32", "outputs": []}
        else:
            answer = self._request("GET", self._model_path(), threading.Event())
            if answer.status_code != 200:
                raise self._status_error(answer, "the model metadata")
            meta = self._read(parse_metadata, answer.content, self.model_name)
            if self.input_name is not None:
                meta["input_name"] = self.input_name
        shape = meta["input_shape"]
        layout = resolve_layout(self.layout, shape)
        dtype = numpy_dtype(meta["input_datatype"])
        if dtype.kind not in "fiu":
            raise OracleError(f"The model takes {meta['input_datatype']} input, not images.")
        meta["adapter"] = CanvasAdapter(layout, self.channel_order, self.scale, self.mean,
                                        self.std, self.output, dtype.newbyteorder("="))
        meta["response"] = self.response if self.response is not None else ScoreVectorResponse()
        n_classes = meta["response"].n_classes(meta["outputs"])
        canvas = canvas_shape_from_model(shape, layout) if shape is not None else None
        self._check_metadata_bounds(canvas, n_classes)
        if self._input_shape is None:
            self._input_shape = canvas
        meta["n_classes"] = n_classes
        fixed = shape[0] if shape else None
        batch = self.max_batch_size or fixed or DEFAULT_BATCH_SIZE
        meta["batch_size"] = int(min(batch, fixed) if fixed else batch)
        self._meta = meta
        return meta

    def _check_metadata_bounds(self, canvas, n_classes):
        """Refuse metadata that would make the client allocate without bound."""
        where = f"The metadata of model {self.model_name!r} at {self.url_public}"
        if canvas is not None and (max(canvas[:2]) > self.max_image_size or canvas[2] > 4):
            raise OracleError(
                f"{where} declares a canvas of {canvas[0]}x{canvas[1]} pixels and "
                f"{canvas[2]} channels; expected at most max_image_size={self.max_image_size} "
                "pixels a side and 4 channels. Raise max_image_size if the model is that large."
            )
        if n_classes is not None and n_classes > self.max_classes:
            raise OracleError(
                f"{where} declares {n_classes} output classes; expected at most "
                f"max_classes={self.max_classes}."
            )

    def _read(self, decode, *args):
        """``decode(*args)`` on a server's answer; its errors redacted, nothing chained.

        The error is raised outside the ``except`` block so that the unredacted one is
        not kept as its ``__context__``.
        """
        try:
            return decode(*args, redact=self._redact)
        except OracleError as exc:
            message = str(exc)
        raise OracleError(self._redact(f"{self.url_public}: {message}"))

    @property
    def input_shape(self):
        if self._input_shape is None:
            self._prepare()
        return self._input_shape

    @property
    def n_classes(self):
        return self._prepare()["n_classes"]

    # ------------------------------------------------------------- the calls
    def predict_proba(self, canvases, charge=None):
        """Class scores ``(n, K)`` for canvases ``(n, H, W, C)`` in ``[0, 1]``.

        Parameters
        ----------
        canvases : array-like of shape (n, H, W, C)
        charge : callable, optional
            ``charge(n_images)`` is called before every attempt to send ``n_images``
            (retries included) and raises :class:`BudgetExhausted` rather than let
            the attempt pass the budget; the error propagates and nothing more is
            sent. When None, images are only counted (``n_images_sent``).

        Returns
        -------
        ndarray of shape (n, K)
            Non-negative scores; :func:`call_oracle` normalises the rows.

        Raises
        ------
        OracleError
            On a 4xx other than 429, a malformed or wrong-shaped answer, or when the
            retries are spent.
        BudgetExhausted
            From ``charge``.
        """
        canvases = np.asarray(canvases, dtype=np.float32)
        if canvases.ndim != 4:
            raise ValueError(f"canvases must be (n, H, W, C), got shape {canvases.shape}.")
        meta = self._prepare()
        if self._input_shape is not None and canvases.shape[1:] != self._input_shape:
            # Refused here rather than by the server, after the images were paid for.
            raise ValueError(f"canvases of shape {canvases.shape[1:]} do not fit the model's "
                             f"input {self._input_shape}.")
        self._http()
        n = canvases.shape[0]
        if n == 0:
            return np.zeros((0, meta["n_classes"] or 0))
        size = meta["batch_size"]
        batches = [canvases[i:i + size] for i in range(0, n, size)]
        stop = threading.Event()
        workers = min(int(self.max_concurrency), len(batches))
        if workers == 1:
            chunks = [self._infer_batch(b, charge, stop) for b in batches]
        else:
            chunks = self._run_concurrently(batches, charge, stop, workers)
        return np.concatenate(chunks, axis=0)

    __call__ = predict_proba

    def _run_concurrently(self, batches, charge, stop, workers):
        pool = ThreadPoolExecutor(workers, thread_name_prefix="skbar-http")
        futures = [pool.submit(self._infer_batch, b, charge, stop) for b in batches]
        try:
            _, pending = wait(futures, return_when=FIRST_EXCEPTION)
        except BaseException:
            # Ctrl-C: no batch starts and no attempt is retried from now on. Leaving
            # the pool's block would wait for every queued batch to be sent; instead
            # the queued ones are cancelled and the requests on the wire finish in the
            # background, bounded by the deadline, counted in n_images_sent (they were
            # charged before they left), their answers dropped.
            stop.set()
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        with pool:
            failed = [f for f in futures if f.done() and f.exception() is not None]
            if failed:
                # Stop the other batches before they charge or send anything more;
                # requests already on the wire finish (they are paid for already).
                stop.set()
                for f in pending:
                    f.cancel()
                wait(futures)
                errors = [f.exception() for f in futures
                          if not f.cancelled() and f.exception() is not None]
                raise next(e for e in errors if not isinstance(e, _Cancelled))
            return [f.result() for f in futures]

    def _infer_batch(self, canvases, charge, stop):
        meta = self._meta
        x = meta["adapter"].to_model(canvases)
        n = x.shape[0]
        outputs = meta["response"].requested_outputs(meta["outputs"], self.binary)
        body, headers = encode_request(meta["input_name"], x, self.binary, outputs)
        answer = self._request("POST", self._model_path() + "/infer", stop,
                               content=body, headers=headers, charge=charge, n_images=n)
        if answer.status_code != 200:
            raise self._status_error(answer, f"a batch of {n} images")

        answered = []

        def to_scores(content, redact):
            tensors = decode_response(content, answer.headers, n, redact=redact)
            answered.extend(tensors)
            return meta["response"].to_scores(tensors, meta["adapter"])

        scores = np.asarray(self._read(to_scores, answer.content), dtype=np.float64)
        if scores.ndim == 2 and scores.shape[1] > self.max_classes:
            raise OracleError(f"{self.url_public} answered {scores.shape[1]} scores per image; "
                              f"expected at most max_classes={self.max_classes}.")
        declared = meta["n_classes"]
        if declared is not None and scores.ndim == 2 and scores.shape[1] != declared:
            # Most likely another output than the one the metadata describes (a server
            # answering an extra output first): read as scores, it would be wrong.
            raise OracleError(self._redact(
                f"{self.url_public} answered {scores.shape[1]} scores per image (outputs "
                f"{answered}), but the metadata of model {self.model_name!r} declares "
                f"{declared} classes (outputs {[o['name'] for o in meta['outputs']]}). Name "
                "the output holding the scores: "
                "response=ScoreVectorResponse(output_name=...)."))
        return scores

    @property
    def url_public(self):
        return _public_url(self.url)
