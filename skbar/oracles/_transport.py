"""One HTTP request with bounds a server cannot stretch: a total deadline and a size cap.

httpx's ``timeout`` bounds each wait for the network, not the whole answer: a server
that drips one byte every half second never trips it. Here every read of the socket
waits at most until the request's deadline (a thread-local, as each thread of the
oracle sends its own request), and the answer is streamed and refused once it passes
``max_bytes``, before it fills the memory.
"""

import json
import threading
import time

import httpcore
import httpx

_request_deadline = threading.local()


class DeadlineExceeded(Exception):
    """The answer did not arrive whole within the request's deadline."""


class AnswerTooLarge(Exception):
    """The answer is larger than the oracle accepts."""


class _DeadlineStream(httpcore.NetworkStream):
    """A socket whose every read and write ends by the current request's deadline."""

    def __init__(self, stream):
        self._stream = stream

    def _bounded(self, timeout, error):
        deadline = getattr(_request_deadline, "at", None)
        if deadline is None:
            return timeout
        left = deadline - time.monotonic()
        if left <= 0:
            raise error("the request's deadline has passed")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes, timeout=None):
        return self._stream.read(max_bytes, self._bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer, timeout=None):
        self._stream.write(buffer, self._bounded(timeout, httpcore.WriteTimeout))

    def close(self):
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info):
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """httpcore's own network backend, with :class:`_DeadlineStream` sockets."""

    def __init__(self, backend):
        self._backend = backend

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _DeadlineStream(self._backend.connect_tcp(
            host, port, timeout, local_address=local_address, socket_options=socket_options))

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _DeadlineStream(self._backend.connect_unix_socket(
            path, timeout, socket_options=socket_options))

    def sleep(self, seconds):
        self._backend.sleep(seconds)


def make_client(*, base_url, headers, verify, timeout, max_connections):
    """An ``httpx.Client`` whose requests :func:`send` can bound by a deadline."""
    transport = httpx.HTTPTransport(
        verify=verify,
        limits=httpx.Limits(max_connections=max_connections,
                            max_keepalive_connections=max_connections))
    pool = getattr(transport, "_pool", None)
    if hasattr(pool, "_network_backend"):
        # Without this hook (another httpx), the deadline is still checked between the
        # chunks of the body, only not while the headers arrive.
        pool._network_backend = _DeadlineBackend(pool._network_backend)
    return httpx.Client(base_url=base_url, headers=headers, timeout=httpx.Timeout(timeout),
                        transport=transport)


class Answer:
    """An HTTP answer read whole: what the oracle needs of ``httpx.Response``."""

    def __init__(self, status_code, reason_phrase, headers, content, encoding):
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.headers = headers
        self.content = content
        self.encoding = encoding or "utf-8"

    @property
    def text(self):
        return self.content.decode(self.encoding, errors="replace")

    def json(self):
        return json.loads(self.content)


def send(client, method, path, *, deadline, max_bytes, **kwargs):
    """Send one request and read its answer whole, within ``deadline`` seconds.

    Parameters
    ----------
    client : httpx.Client
        From :func:`make_client`.
    method, path : str
    deadline : float
        Seconds from now by which the whole answer must have arrived.
    max_bytes : int
        The largest answer body accepted (after any ``Content-Encoding`` is undone).
    **kwargs
        Passed to ``client.stream``.

    Returns
    -------
    Answer

    Raises
    ------
    DeadlineExceeded, AnswerTooLarge
    httpx.HTTPError
        As ``client.request`` raises them.
    """
    at = time.monotonic() + deadline
    _request_deadline.at = at
    try:
        with client.stream(method, path, **kwargs) as response:
            declared = response.headers.get("Content-Length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise AnswerTooLarge(f"declares {int(declared):,} bytes")
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    raise AnswerTooLarge(f"passed {max_bytes:,} bytes")
                if time.monotonic() > at:
                    raise DeadlineExceeded()
            return Answer(response.status_code, response.reason_phrase, response.headers,
                          bytes(body), response.charset_encoding)
    except (httpx.ReadTimeout, httpx.WriteTimeout):
        if time.monotonic() >= at:
            raise DeadlineExceeded() from None
        raise
    finally:
        _request_deadline.at = None
