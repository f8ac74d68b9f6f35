"""How :class:`~skbar.oracles.HttpOracle` sends one request: a rate limit, retries of what
is worth retrying (with the server's ``Retry-After``), the budget charged before every
attempt, and errors redacted before anyone sees them.
"""

import email.utils
import logging
import threading
import time

from ._base import OracleError

logger = logging.getLogger("skbar.oracles.http")


# 501 Not Implemented and 505 HTTP Version Not Supported will not change on a retry;
# every other 5xx, and 429 Too Many Requests, may.
_PERMANENT_5XX = (501, 505)


def _retryable(status):
    return status == 429 or (500 <= status < 600 and status not in _PERMANENT_5XX)


class _Cancelled(Exception):
    """Another batch of the same call failed: stop without sending anything more."""


class TokenBucket:
    """A client-side rate limit: at most ``rate`` requests a second, shared by threads.

    The bucket holds at most one token, so requests start at least ``1 / rate``
    seconds apart: no window of any length sees more than its share. A server's
    ``Retry-After`` pauses every thread of the oracle (:meth:`pause`), not only the
    one that was told.

    Parameters
    ----------
    rate : float or None
        Requests per second; None for no limit (pauses still apply).
    """

    def __init__(self, rate=None, clock=time.monotonic):
        self.rate = None if rate is None else float(rate)
        self._clock = clock
        self._tokens = 1.0
        self._last = clock()
        self._not_before = 0.0
        self._lock = threading.Lock()

    def acquire(self, stop):
        """Wait for a token, or raise :class:`_Cancelled` as soon as ``stop`` is set."""
        while True:
            with self._lock:
                now = self._clock()
                if self.rate is not None:
                    self._tokens = min(1.0, self._tokens + (now - self._last) * self.rate)
                self._last = now
                wait_s = max(0.0, self._not_before - now)
                if wait_s == 0.0 and (self.rate is None or self._tokens >= 1.0):
                    if self.rate is not None:
                        self._tokens -= 1.0
                    return
                if self.rate is not None and self._tokens < 1.0:
                    wait_s = max(wait_s, (1.0 - self._tokens) / self.rate)
            if stop.wait(wait_s):
                raise _Cancelled()

    def pause(self, seconds):
        """Let no request start for ``seconds`` from now."""
        with self._lock:
            self._not_before = max(self._not_before, self._clock() + seconds)


def parse_retry_after(value, now=None):
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Returns None when the header is absent or unreadable.
    """
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)



class RequestsMixin:
    """One request of an :class:`~skbar.oracles.HttpOracle`, retried and charged."""

    def _request(self, method, path, stop, *, charge=None, n_images=0, **kwargs):
        """Send one request, retrying what is worth retrying; charge inference attempts.

        Returns the first answer that is neither retryable nor a transport failure
        (a 2xx or a permanent 4xx/5xx, for the caller to judge).
        """
        client = self._http()
        failure = None
        for attempt in range(int(self.max_retries) + 1):
            if stop.is_set():
                raise _Cancelled()
            self._bucket.acquire(stop)
            with self._lock:
                # Under the lock: the budget is checked and spent by one thread at a time.
                if stop.is_set():
                    raise _Cancelled()
                if charge is not None and n_images:
                    charge(n_images)
                if attempt:
                    self.n_retries += 1
            retry_after = None
            answer, failure, fatal = self._attempt(client, method, path, charge, n_images,
                                                   kwargs)
            if fatal is not None:
                raise OracleError(fatal)
            if answer is not None:
                if not _retryable(answer.status_code):
                    return answer
                failure = f"HTTP {answer.status_code} {self._error_text(answer)}"
                retry_after = parse_retry_after(answer.headers.get("Retry-After"))
            if attempt == int(self.max_retries):
                break
            delay = min(self.max_backoff, self.backoff * 2 ** attempt)
            delay *= 0.5 + self._rng.random()
            if retry_after is not None:
                if retry_after > self.max_backoff:
                    raise OracleError(self._redact(
                        f"{self.url_public} answered {failure} and asks to retry after "
                        f"{retry_after:.0f} s, longer than max_backoff={self.max_backoff} s; "
                        "giving up rather than wait."))
                delay = max(delay, retry_after)
                # A server that says "slow down" means it for every thread.
                self._bucket.pause(retry_after)
            logger.warning("%s %s: %s; retry %d of %d in %.2f s", method,
                           self.url_public + path, self._redact(failure), attempt + 1,
                           self.max_retries, delay)
            if stop.wait(delay):
                raise _Cancelled()
        raise OracleError(self._redact(
            f"{method} {self.url_public}{path} failed {int(self.max_retries) + 1} times; "
            f"last: {failure}"))

    def _attempt(self, client, method, path, charge, n_images, kwargs):
        """One attempt: ``(answer, failure, fatal)``, where one is set and each text redacted.

        ``failure`` is worth a retry, ``fatal`` is not. Errors become text inside the
        ``except`` blocks and the caller raises them outside: an httpx error holds the
        request, its headers and the key with them, and must not travel on as the
        ``__context__`` of the error a user sees.
        """
        import httpx

        from ._transport import AnswerTooLarge, DeadlineExceeded, UnreadableEncoding, send

        where = f"{method} {self.url_public}{path}"
        try:
            answer = send(client, method, path, deadline=self.deadline,
                          max_bytes=self.max_response_bytes, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # Refused before a byte was sent: nothing reached the server, so the
            # attempt is refunded (a negative charge), then retried.
            if charge is not None and n_images:
                with self._lock:
                    charge(-n_images)
            return None, self._redact(f"{type(exc).__name__}: {exc}"), None
        except (httpx.UnsupportedProtocol, httpx.ProxyError, httpx.LocalProtocolError) as exc:
            # Wrong on our side or the proxy's: a retry would fail the same way.
            return None, None, self._redact(
                f"Cannot reach {self.url_public}: {type(exc).__name__}: {exc}")
        except DeadlineExceeded:
            # A server this slow once is as slow again, and every retry is paid for.
            self._count_sent(n_images)
            return None, None, (f"{where}: the answer took longer than deadline="
                                f"{self.deadline} s; not retried.")
        except AnswerTooLarge as exc:
            self._count_sent(n_images)
            return None, None, (f"{where}: the answer {exc}, more than max_response_bytes="
                                f"{self.max_response_bytes:,}; refused, not retried.")
        except httpx.TransportError as exc:
            # Timeouts and broken connections: the images may have arrived.
            self._count_sent(n_images)
            failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            return None, self._redact(failure), None
        except httpx.RequestError as exc:
            # An answer came but could not be read (bad encoding, redirect loop).
            self._count_sent(n_images)
            return None, None, self._redact(
                f"{self.url_public}{path}: unreadable answer: {type(exc).__name__}: {exc}")
        except UnreadableEncoding as exc:
            self._count_sent(n_images)
            return None, None, self._redact(f"{where}: the answer {exc}; refused, not retried.")
        except BaseException:
            # Ctrl-C while the request was on the wire: it may have reached the server.
            self._count_sent(n_images)
            raise
        self._count_sent(n_images)
        return answer, None, None

    def _count_sent(self, n_images):
        if n_images:
            with self._lock:
                self.n_requests += 1
                self.n_images_sent += int(n_images)

    def _error_text(self, answer, limit=300):
        """The server's own error message, from a v2 ``{"error": ...}`` body or as text."""
        try:
            text = answer.json().get("error") or answer.text
        except (ValueError, AttributeError):
            text = answer.text
        # Redacted before it is cut, so a key across the cut leaves no part behind.
        text = self._redact(text, limit=limit)
        return f"({answer.reason_phrase}): {text}" if text else f"({answer.reason_phrase})"

    def _status_error(self, answer, what):
        """The :class:`OracleError` for a refusal; its ``status_code`` says which (a
        :class:`DaskOracle` sends a part refused 401 or 403 to no other worker)."""
        error = OracleError(self._redact(
            f"{self.url_public} refused {what} for model {self.model_name!r}: "
            f"HTTP {answer.status_code} {self._error_text(answer)}"))
        error.status_code = answer.status_code
        return error
