"""Credentials: kept out of ``repr``, pickles, error messages, logs and tracebacks.

Every text an oracle shows (an exception, a log line, a server's error echoed back)
goes through :func:`redact` first, and is cut short only after the key has been
removed, so that no part of the key survives the cut.
"""

import json
from urllib.parse import quote

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
    """``text`` with every form of every secret in it replaced by ``***``, then shortened.

    The forms are the secret as it is, and as ``repr``, JSON and URLs escape it (an HTTP
    client prints an illegal header value escaped; a server echoes JSON). Whitespace
    runs become one space and, with ``limit``, the text is cut to ``limit`` characters
    plus ``"..."``: always after the secrets are gone, so a cut never leaves a part.

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
    >>> redact("x" * 8 + "sk-123", ["sk-123"], limit=10)
    'xxxxxxxx**...'
    """
    text = str(text)
    for secret in secrets:
        if not secret:
            continue
        forms = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1], quote(secret, safe="")}
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, _MASK)
    if limit is not None:
        text = " ".join(text.split())
        if len(text) > limit:
            text = text[:limit] + "..."
    return text
