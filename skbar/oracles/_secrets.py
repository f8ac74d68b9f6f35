"""Credentials: kept out of ``repr``, pickles, error messages, logs and tracebacks.

Every text an oracle shows (an exception, a log line, a server's error echoed back)
goes through :func:`redact` first, which finds the key in any escaping, and is cut
short only after the key has been removed, so that no part of the key survives the cut.
"""

import functools
import re

_MASK = "***"


class Secret:
    """A credential that repr, str, pickle and logs never show.

    Pickling keeps the wrapper and drops the value (``__reduce__``), whoever pickles
    it; copying within the process keeps the value, so a cloned oracle still works.
    """

    __slots__ = ("_value",)

    def __init__(self, value=None):
        self._value = value

    def get(self):
        return self._value

    def __bool__(self):
        return bool(self._value)

    def __repr__(self):
        return f"'{_MASK}'" if self._value else "None"

    __str__ = __repr__

    def __reduce__(self):
        return (Secret, ())

    def __copy__(self):
        return self

    def __deepcopy__(self, memo):
        return self


def clean_key(value, name):
    """An API key without the whitespace around it, or None for an empty one.

    Keys read from files and mounted secrets end in ``"\\n"`` or ``"\\r\\n"``; sent as
    they are, the HTTP client refuses the header and prints it, key included. Inside
    the key, only printable ASCII without spaces can travel in a header.

    Parameters
    ----------
    value : str or None
    name : str
        What holds the key (``"api_key"``, an environment variable), for the error.

    Raises
    ------
    TypeError
        If ``value`` is not a string.
    ValueError
        If the key holds a space, a control or a non-ASCII character. The message
        says which kind, never the key.
    """
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {type(value).__name__}.")
    key = value.strip()
    for char in key:
        if not " " < char <= "~":
            kind = ("a space" if char.isspace() else
                    "a non-ASCII character" if ord(char) > 127 else "a control character")
            raise ValueError(
                f"{name} holds {kind}: an HTTP header carries printable ASCII only. "
                "Check the key (it is not shown here)."
            )
    return key or None


def redact(text, secrets, limit=None):
    """``text`` with every spelling of every secret in it replaced by ``***``, then shortened.

    A server or a library may echo a key in another spelling than its own: JSON
    escapes ``/`` as ``\\/`` (PHP, Java) and ``&`` as ``\\u0026`` (Go), HTML writes
    ``&amp;``, URLs ``%2F``, ``repr`` doubles backslashes. Each character of the secret
    is matched in any of these spellings, mixed freely and nested (``&amp;amp;``,
    ``%252F``), so no spelling of the key survives. Whitespace runs become one space
    and, with ``limit``, the text is cut to ``limit`` characters plus ``"..."``: always
    after the secrets are gone, so a cut never leaves a part.

    Parameters
    ----------
    text : object
        Turned into ``str``.
    secrets : iterable of str or None
    limit : int, optional

    Examples
    --------
    >>> redact("key sk-123 leaked", ["sk-123"])
    'key *** leaked'
    >>> redact('{"error": "sk\\/1\\u0026x"}', ["sk/1&x"])
    '{"error": "***"}'
    >>> redact("x" * 8 + "sk-123", ["sk-123"], limit=10)
    'xxxxxxxx**...'
    """
    text = str(text)
    patterns = [_spellings(secret) for secret in secrets if secret]
    if limit is not None:
        text = " ".join(text.split())
        # A secret that reaches into the first `limit` characters ends within its longest
        # spelling after them: what lies further is cut anyway, and need not be searched.
        longest = max((len(secret) for secret in secrets if secret), default=0)
        text = text[:limit + _LONGEST_SPELLING * longest + 1]
    for pattern in sorted(patterns, key=lambda p: len(p.pattern), reverse=True):
        text = pattern.sub(_MASK, text)
    if limit is not None and len(text) > limit:
        text = text[:limit] + "..."
    return text


# The longest spelling of one character matched below: ``\\u00XX`` behind a few
# backslashes, or ``&amp;amp;#x00XX;``.
_LONGEST_SPELLING = 24

_SHORT_ESCAPES = {"\n": "n", "\r": "r", "\t": "t", "\b": "b", "\f": "f"}

_NAMED_ENTITIES = {"&": "amp", "<": "lt", ">": "gt", '"': "quot", "'": "apos", "/": "sol"}


def _hex(value, width):
    """A regex for ``value`` in hexadecimal, either case, with up to ``width`` leading zeros."""
    digits = f"{value:x}"
    return "0{0,%d}" % max(0, width - len(digits)) + "".join(
        f"[{d}{d.upper()}]" if d.isalpha() else d for d in digits)


@functools.lru_cache(maxsize=64)
def _spellings(secret):
    """A compiled regex matching ``secret`` with each character in any spelling."""
    chars = []
    for char in secret:
        code = ord(char)
        forms = [re.escape(char), r"\\+" + re.escape(char)]  # as is, or backslashed
        if char in _SHORT_ESCAPES:
            forms.append(r"\\+" + _SHORT_ESCAPES[char])  # "\n" in repr and JSON
        forms.append(r"\\+[uU]" + _hex(code, 4))  # JSON, JavaScript
        if code < 256:
            forms.append(r"\\+x" + _hex(code, 2))  # Python, C
        entity = "&(?:amp;)*"  # HTML, escaped once or more
        forms.append(entity + "#0*" + str(code) + ";?")
        forms.append(entity + "#[xX]" + _hex(code, 6) + ";?")
        if char in _NAMED_ENTITIES:
            forms.append(entity + _NAMED_ENTITIES[char] + ";")
        if code < 128:
            forms.append("%(?:25)*" + _hex(code, 2))  # URLs, encoded once or more
        chars.append("(?:" + "|".join(forms) + ")")
    return re.compile("".join(chars))
