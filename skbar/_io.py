"""Writing a file atomically: readers see the previous file or the new one, never a part.

A fit's checkpoint and the zoo's converted models are both read back later, possibly by
another process while a writer is still at work; a file cut short by a crash, a full disk
or Ctrl-C would be worse than no file at all.
"""

import contextlib
import os
import secrets

_TEXT_ENCODING = "utf-8"


@contextlib.contextmanager
def atomic_write(path, mode="wb"):
    """Open a temporary file that replaces ``path`` once the ``with`` block succeeds.

    The data goes to a new file in the folder of ``path`` (so that the final
    ``os.replace`` is a rename within one file system, atomic on POSIX and Windows), is
    flushed and synced to the disk, and only then takes the place of ``path``. If the
    block raises anything, ``KeyboardInterrupt`` included, the temporary file is removed
    and ``path`` is left as it was. Concurrent writers of one path each write their own
    temporary file: the last to finish wins, and every version a reader can see is whole.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write. Its folder is created if missing.
    mode : {"wb", "w"}, default="wb"
        Binary, or text in UTF-8.

    Yields
    ------
    file object
        The open temporary file; write to it, do not close it.

    Raises
    ------
    ValueError
        If ``mode`` is neither ``"wb"`` nor ``"w"``.

    Notes
    -----
    The new file gets the permissions that ``open(path, mode)`` gives a new file (0o666
    less the process umask), not the owner-only ones of :func:`tempfile.mkstemp`: a cache
    folder shared through ``$SKBAR_CACHE`` must stay readable by the others who use it.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "scores.txt")
    >>> with atomic_write(path, "w") as f:
    ...     _ = f.write("0.9")
    >>> open(path).read()
    '0.9'
    """
    if mode not in ("wb", "w"):
        raise ValueError(f"mode must be 'wb' or 'w', got {mode!r}.")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = _create_temporary(folder, os.path.basename(path))
    try:
        encoding = _TEXT_ENCODING if mode == "w" else None
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            # Without the sync, a power cut soon after the rename can leave an empty file
            # under the new name on some file systems (ext4 with delayed allocation).
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _create_temporary(folder, name):
    """Create a new, empty hidden file next to ``name`` in ``folder``.

    Returns
    -------
    fd : int
        A file descriptor open for writing.
    tmp : str
        The file's path.
    """
    # os.open applies the umask to 0o666 as open() does; O_EXCL makes the name ours alone.
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(folder, f".{name}.{secrets.token_hex(8)}.tmp")
        try:
            return os.open(tmp, flags, 0o666), tmp
        except FileExistsError:  # 64 random bits taken already: draw again
            continue
