"""One HTTP request with bounds a server cannot stretch: a total deadline and a size cap.

httpx's ``timeout`` bounds each wait for the network, not the whole answer: a server
that drips one byte every half second never trips it. Here every read of the socket
waits at most until the request's deadline (a thread-local, as each thread of the
oracle sends its own request), and the answer is streamed and refused once it passes
``max_bytes``, before it fills the memory.

The answer's ``Content-Encoding`` is undone here, not by httpx: httpx inflates each
chunk it reads whole, so a few kilobytes encoded ``gzip, gzip`` become gigabytes in
one call, before any cap is checked. Here every layer inflates at most
:data:`DECODE_CHUNK` bytes at a time and the decoded bytes are counted as they come.
"""

import json
import threading
import time
import zlib

import httpcore
import httpx

_request_deadline = threading.local()


class DeadlineExceeded(Exception):
    """The answer did not arrive whole within the request's deadline."""


class AnswerTooLarge(Exception):
    """The answer is larger than the oracle accepts."""


class UnreadableEncoding(Exception):
    """The answer's ``Content-Encoding`` is unknown, too deep, or its data corrupt."""


#: The most bytes one layer of a ``Content-Encoding`` inflates in one step.
DECODE_CHUNK = 64 * 2**10

#: The most encodings stacked on one answer; each layer holds a decompressor's state.
MAX_ENCODINGS = 4

#: What :func:`send` asks for, and can undo a bounded step at a time.
ACCEPT_ENCODING = "gzip, deflate"


def _inflate(chunks, wbits):
    """The data of ``chunks`` (an iterator of bytes) inflated, ``DECODE_CHUNK`` at a time.

    A gzip stream may hold several members one after another; each is inflated in turn.
    """
    decoder = zlib.decompressobj(wbits)
    try:
        for data in chunks:
            while data:
                out = decoder.decompress(data, DECODE_CHUNK)
                if out:
                    yield out
                if decoder.eof:
                    data = decoder.unused_data
                    decoder = zlib.decompressobj(wbits)
                else:
                    data = decoder.unconsumed_tail
        out = decoder.flush(DECODE_CHUNK)
        if out:
            yield out
    except zlib.error as exc:
        raise UnreadableEncoding(f"its compressed data is corrupt ({exc})") from None


def _deflate(chunks):
    """``deflate``: zlib-wrapped as the standard says, or raw as some servers send it."""
    chunks = iter(chunks)
    first = b""
    for first in chunks:
        if first:
            break
    # A zlib header is two bytes whose big-endian value is a multiple of 31.
    wrapped = len(first) < 2 or (first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0)
    yield from _inflate(_prepend(first, chunks), zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)


def _prepend(first, rest):
    yield first
    yield from rest


_DECODERS = {
    "gzip": lambda chunks: _inflate(chunks, 16 + zlib.MAX_WBITS),
    "x-gzip": lambda chunks: _inflate(chunks, 16 + zlib.MAX_WBITS),
    "deflate": _deflate,
    "identity": lambda chunks: chunks,
}


def decode_content(chunks, content_encoding):
    """The body of an answer with its ``Content-Encoding`` undone, layer by layer.

    Parameters
    ----------
    chunks : iterator of bytes
        The body as it arrives.
    content_encoding : str or None
        The header: the encodings in the order the server applied them.

    Yields
    ------
    bytes
        Decoded pieces, none longer than :data:`DECODE_CHUNK`, produced only as the
        consumer asks: a consumer that stops reading stops the inflating.

    Raises
    ------
    UnreadableEncoding
        For an encoding other than gzip, deflate and identity, more than
        :data:`MAX_ENCODINGS` of them, or corrupt data.
    """
    layers = [e.strip().lower() for e in (content_encoding or "").split(",") if e.strip()]
    if len(layers) > MAX_ENCODINGS:
        raise UnreadableEncoding(f"is encoded {len(layers)} times over "
                                 f"(Content-Encoding: {content_encoding[:100]!r}); "
                                 f"at most {MAX_ENCODINGS} are accepted")
    for layer in layers:
        if layer not in _DECODERS:
            raise UnreadableEncoding(f"has Content-Encoding {layer[:40]!r}; "
                                     f"only {ACCEPT_ENCODING} and identity are read")
    # The last encoding applied is the first undone.
    for layer in reversed(layers):
        chunks = _DECODERS[layer](chunks)
    return chunks


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


def make_client(*, base_url, headers, verify, timeout, max_connections, params=None):
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
    headers = {"Accept-Encoding": ACCEPT_ENCODING, **headers}
    return httpx.Client(base_url=base_url, headers=headers, params=params,
                        timeout=httpx.Timeout(timeout), transport=transport)


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
        The largest answer body accepted, counted as its ``Content-Encoding`` is undone
        (see :func:`decode_content`), at every layer's pace.
    **kwargs
        Passed to ``client.stream``.

    Returns
    -------
    Answer

    Raises
    ------
    DeadlineExceeded, AnswerTooLarge, UnreadableEncoding
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
            decoded = decode_content(response.iter_raw(),
                                     response.headers.get("Content-Encoding"))
            for chunk in decoded:
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
