"""Pieces every loader shares: finding files, reading label CSVs, correlations, images.

Every error raised here names the path it is about and says what was expected, because
the usual way a loader fails is a folder laid out a little differently from the one the
data set ships with, and the user needs to know which file to look at.
"""

import contextlib
import csv
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from sklearn.utils import Bunch, check_random_state

from ..canvas import match_channels, resize_images


def as_directory(root, what):
    """``root`` as a :class:`~pathlib.Path`, after checking it is an existing folder."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{what} folder {str(root)!r} does not exist or is not a folder.")
    return root


def find_file(root, name, given=None):
    """The path of the file called ``name``: ``given`` if set, else searched under ``root``.

    The file is looked for directly in ``root`` first, then anywhere below it, so both the
    layout the data set ships with and a flattened copy of it work.

    Raises
    ------
    FileNotFoundError
        If ``given`` does not exist, or no file called ``name`` is under ``root``.
    ValueError
        If several files called ``name`` are under ``root``: which one is meant is unclear.
    """
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"{str(path)!r} does not exist; expected the file {name}.")
        return path
    if (root / name).is_file():
        return root / name
    found = sorted(root.rglob(name))
    if not found:
        raise FileNotFoundError(f"No file called {name!r} in {str(root)!r} or below it.")
    if len(found) > 1:
        raise ValueError(
            f"Several files called {name!r} below {str(root)!r}: "
            f"{', '.join(map(str, found))}; pass the one to use explicitly."
        )
    return found[0]


def check_unique(ids, csv_path, column):
    """Raise if an identifier is listed twice: which row's label applies would be a guess."""
    seen = set()
    for key in ids:
        if key in seen:
            raise ValueError(
                f"{str(csv_path)!r} lists {column} {key!r} twice; expected one row per sample."
            )
        seen.add(key)


def index_files(root, suffix):
    """Map each file below ``root`` whose name ends in ``suffix`` to its name minus the suffix.

    Raises
    ------
    FileNotFoundError
        If no file below ``root`` ends in ``suffix``.
    ValueError
        If two files below ``root`` share a name (two copies, e.g. from two preprocessing
        pipelines): loading either silently would hide the ambiguity.
    """
    index = {}
    for path in sorted(root.rglob(f"*{suffix}")):
        if not path.is_file():
            continue
        key = path.name[: -len(suffix)]
        if key in index:
            raise ValueError(
                f"Two files for {key!r}: {str(index[key])!r} and {str(path)!r}; "
                f"keep one, or point root at the folder that holds the one to use."
            )
        index[key] = path
    if not index:
        raise FileNotFoundError(f"No file matching '*{suffix}' in {str(root)!r} or below it.")
    return index


def read_csv(path, required):
    """The rows of the CSV at ``path`` as dicts, after checking it has the ``required`` columns.

    Raises
    ------
    ValueError
        If a required column is missing, or the file has no data rows.
    """
    # utf-8-sig: spreadsheets exported on Windows start with a byte-order mark, which
    # would otherwise become part of the first column's name.
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        missing = [c for c in required if c not in columns]
        if missing:
            raise ValueError(
                f"{str(path)!r} lacks the column(s) {missing}; expected at least {list(required)}, "
                f"found {columns}."
            )
        rows = [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in reader]
    if not rows:
        raise ValueError(f"{str(path)!r} has a header but no rows; expected one row per sample.")
    return rows


def match_files(ids, files, strict, csv_path, folder, stacklevel=3):
    """Positions of ``ids`` that have a file in ``files``; the others are skipped or an error.

    Parameters
    ----------
    ids : sequence of str
        The sample identifiers listed in the label CSV, in its order.
    files : dict
        Identifier to path, as built by :func:`index_files`.
    strict : bool
        Raise rather than warn when a listed sample has no file.
    csv_path, folder : Path
        Named in the warning or error.
    stacklevel : int, default=3
        Points the warning at the user's call to the public loader.

    Returns
    -------
    keep : list of int
        Positions in ``ids`` of the samples that have a file.
    """
    keep = [i for i, key in enumerate(ids) if key in files]
    missing = [key for key in ids if key not in files]
    if missing:
        shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
        message = (
            f"{len(missing)} of the {len(ids)} samples listed in {str(csv_path)!r} have no file "
            f"in {str(folder)!r} ({shown})"
        )
        if strict:
            raise FileNotFoundError(message + ".")
        warnings.warn(message + "; they are skipped.", UserWarning, stacklevel=stacklevel)
    if not keep:
        raise FileNotFoundError(
            f"None of the samples listed in {str(csv_path)!r} has a file in {str(folder)!r}."
        )
    return keep


def correlation_matrices(timeseries, dtype=np.float64):
    """Pearson correlation matrices of a stack of ROI time series.

    Parameters
    ----------
    timeseries : ndarray of shape (n_subjects, n_timepoints, n_regions)
    dtype : numpy dtype, default=np.float64
        Precision of the computation. float32 halves the memory and is accurate to about
        1e-6, enough for simulated data; files are read at float64.

    Returns
    -------
    corr : ndarray of shape (n_subjects, n_regions, n_regions), float32
        Symmetric, with a unit diagonal. A region whose series is constant has no defined
        correlation (zero variance); its row and column are set to 0, off the diagonal,
        so one dead region does not turn the whole matrix into NaN.
    """
    raw = np.asarray(timeseries, dtype=dtype)
    ts = raw - raw.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.einsum("ntr,ntr->nr", ts, ts))
    # A relative threshold: after centring, a constant series is zero only up to the
    # rounding of its mean, which scales with its magnitude.
    eps = np.finfo(ts.dtype).eps
    scale = np.sqrt(ts.shape[1]) * np.abs(raw).max(axis=1)
    constant = norm <= 64 * eps * np.maximum(scale, np.finfo(ts.dtype).tiny)
    norm[constant] = 1.0
    ts /= norm[:, None, :]
    ts *= ~constant[:, None, :]
    corr = np.matmul(ts.transpose(0, 2, 1), ts)
    np.clip(corr, -1.0, 1.0, out=corr)
    diag = np.arange(corr.shape[1])
    corr[:, diag, diag] = 1.0
    return corr.astype(np.float32)


def image_size(size):
    """``(height, width)`` from an int (square) or a pair, checked positive."""
    pair = (size, size) if np.isscalar(size) else tuple(size)
    if len(pair) != 2 or not all(int(s) == s and s >= 1 for s in pair):
        raise ValueError(f"size must be a positive int or (height, width), got {size!r}.")
    return int(pair[0]), int(pair[1])


#: Pillow's modes of grey images with more than 8 bits a pixel (16-bit PNGs): their
#: values span ``[0, 65535]``, where converting to RGB would clip them at 255.
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


@contextlib.contextmanager
def open_image(path):
    """Open ``path`` with Pillow, turning what goes wrong into a ``ValueError`` naming it.

    Pillow refuses an image that declares more than twice ``PIL.Image.MAX_IMAGE_PIXELS``
    pixels (a decompression bomb: a small file that would decode to gigabytes) before
    decoding any of it; the message says so, with the file and the limit.
    """
    try:
        with Image.open(path) as img:
            yield img
    except Image.DecompressionBombError as exc:
        raise ValueError(
            f"Refusing to decode {str(path)!r}: {exc} The limit is twice "
            f"PIL.Image.MAX_IMAGE_PIXELS ({2 * Image.MAX_IMAGE_PIXELS} pixels); raise "
            "PIL.Image.MAX_IMAGE_PIXELS if the file is trusted.") from exc
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"Cannot read {str(path)!r} as an image: {exc}") from exc


def rgb_pixels(img, size):
    """An open Pillow image as float32 RGB ``(height, width, 3)`` in ``[0, 1]``.

    8-bit images are divided by 255; 16-bit grey images (PNG) by 65535, so that their
    whole range maps to ``[0, 1]``. Resized to ``size = (height, width)``, bilinearly.
    """
    height, width = size
    if img.mode in _SIXTEEN_BIT_MODES:
        grey = np.clip(np.asarray(img, dtype=np.float32) / 65535.0, 0.0, 1.0)
        grey = resize_images(grey[None, :, :, None], (height, width))
        return match_channels(grey, 3)[0]
    # JPEG decoders can scale by 1/2, 1/4 or 1/8 while decoding; asking for the target
    # size first makes a 3000-pixel fundus photo cheap to shrink.
    img.draft("RGB", (width, height))
    img = img.convert("RGB").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32) / np.float32(255.0)


def load_images(paths, size):
    """Read, resize and stack images as float32 RGB in ``[0, 1]``.

    Parameters
    ----------
    paths : sequence of Path
    size : (int, int)
        ``(height, width)`` of every output image. The aspect ratio is not kept: a
        450x600 dermoscopy photo becomes a 64x64 square, as in the paper.

    Returns
    -------
    images : ndarray of shape (n, height, width, 3), float32
        8-bit images divided by 255, 16-bit ones by 65535 (:func:`rgb_pixels`).

    Raises
    ------
    ValueError
        If a file cannot be decoded as an image, or declares more pixels than Pillow's
        limit (a decompression bomb); the message names it.
    """
    images = np.empty((len(paths), *size, 3), dtype=np.float32)
    for i, path in enumerate(paths):
        with open_image(path) as img:
            images[i] = rgb_pixels(img, size)
    return images


class ImageFiles:
    """Image files as a read-only array ``(n, height, width, 3)``, decoded when indexed.

    Give it to :class:`~skbar.BlackBoxReprogrammingClassifier` as ``X``: a fit, a
    prediction or a pass over the training set decode only the images of the batch
    they need (Pillow, RGB, resized to ``size``, float32 in ``[0, 1]``, as
    :func:`load_images` does), so a folder of photographs larger than memory can be
    reprogrammed. :func:`skbar.datasets.load_image_folder` returns one with
    ``lazy=True``.

    Parameters
    ----------
    paths : sequence of str or path-like
        One image file per sample.
    size : int or (int, int)
        ``(height, width)`` every image is resized to.

    Raises
    ------
    ValueError
        When indexed, if a file cannot be decoded as an image; the message names it.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(3):
    ...     Image.new("RGB", (20, 10), (255, 0, 0)).save(folder / f"{i}.png")
    >>> X = ImageFiles(sorted(folder.glob("*.png")), size=8)
    >>> X.shape, X[[0, 2]].shape, float(X[1][0, 0, 0])
    ((3, 8, 8, 3), (2, 8, 8, 3), 1.0)
    """

    ndim = 4
    dtype = np.dtype(np.float32)

    def __init__(self, paths, size):
        self.paths = [str(path) for path in paths]
        if not self.paths:
            raise ValueError("paths is empty; expected one image file per sample.")
        self.image_size = image_size(size)

    @property
    def shape(self):
        return (len(self.paths), *self.image_size, 3)

    @property
    def size(self):
        return int(np.prod(self.shape))

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return load_images(self.paths[index], self.image_size)
        index = np.asarray(index)
        if index.ndim == 0:
            return load_images([self.paths[int(index)]], self.image_size)[0]
        return load_images([self.paths[i] for i in index.ravel()], self.image_size)

    def __array__(self, dtype=None, copy=None):
        # Every image at once: what a tool that needs an array (not skbar) gets.
        images = load_images(self.paths, self.image_size)
        return images if dtype is None else images.astype(dtype)

    def __repr__(self):
        return f"ImageFiles({len(self)} files, size={self.image_size})"


def subsample(n, n_samples, random_state, what):
    """Sorted positions of ``n_samples`` of ``n`` items drawn without replacement (all if None)."""
    if n_samples is None:
        return np.arange(n)
    if not (isinstance(n_samples, (int, np.integer)) and 1 <= n_samples):
        raise ValueError(f"n_samples must be a positive int or None, got {n_samples!r}.")
    if n_samples > n:
        raise ValueError(f"n_samples={n_samples} but only {n} {what} were found.")
    rng = check_random_state(random_state)
    return np.sort(rng.choice(n, size=n_samples, replace=False))


def load_labelled_images(
    root,
    *,
    csv_name,
    csv_path,
    columns,
    suffix,
    parse_label,
    size,
    n_samples,
    strict,
    random_state,
):
    """Read an image folder labelled by a CSV with an ``image`` column, as both image tasks ship.

    Parameters
    ----------
    root : str or Path
        Folder holding the images (in it or below it) and, unless ``csv_path`` is given,
        the CSV called ``csv_name``.
    csv_name : str
    csv_path : str or Path or None
    columns : tuple of str
        Label columns the CSV must have besides ``image``.
    suffix : str
        Image file names are ``{image}{suffix}``.
    parse_label : callable
        ``parse_label(row, csv_path)`` -> int class index; raises ValueError naming the file.
    size : int or (int, int)
    n_samples : int or None
        Load this many images drawn at random (after matching), or all.
    strict : bool
    random_state : int, RandomState instance or None

    Returns
    -------
    bunch : Bunch
        ``data`` (n, height, width, 3) float32, ``target`` (n,) int, ``image`` (n,) ids
        and ``filename`` (n,) paths, in the order of the CSV.
    """
    size = image_size(size)
    root = as_directory(root, "Image")
    csv_path = find_file(root, csv_name, csv_path)
    rows = read_csv(csv_path, ("image", *columns))
    ids = [row["image"] for row in rows]
    check_unique(ids, csv_path, "image")
    # Every label is checked before any image is decoded, which is the slow part.
    labels = [parse_label(row, csv_path) for row in rows]
    files = index_files(root, suffix)
    keep = match_files(ids, files, strict, csv_path, root, stacklevel=4)
    keep = [keep[i] for i in subsample(len(keep), n_samples, random_state, "images with a label")]
    paths = [files[ids[i]] for i in keep]
    return Bunch(
        data=load_images(paths, size),
        target=np.array([labels[i] for i in keep], dtype=int),
        image=np.array([ids[i] for i in keep]),
        filename=np.array([str(path) for path in paths]),
    )


def balanced_index(y, random_state=None):
    """Positions that oversample every class of ``y`` to the largest class's count.

    The original positions in order, then the copies; see :func:`balance_classes`.
    """
    rng = check_random_state(random_state)
    classes, counts = np.unique(y, return_counts=True)
    extra = [
        rng.choice(np.flatnonzero(y == cls), size=counts.max() - count, replace=True)
        for cls, count in zip(classes, counts)
    ]
    return np.concatenate([np.arange(len(y)), *extra]).astype(np.intp)


def balance_classes(X, y, random_state=None):
    """Oversample every minority class to the size of the largest class.

    The paper re-samples the melanoma training data so that every class has the same
    size (Tsai et al., 2020, Sec. 4); this is that step. Each class is topped up with
    copies of its own samples drawn uniformly with replacement; no sample is dropped.

    Apply it to the training split only, after splitting: copies of one image on both
    sides of a split leak the test set into training and inflate the accuracy.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        Samples; any number of trailing dimensions (images, matrices).
    y : array-like of shape (n_samples,)
        Class labels.
    random_state : int, RandomState instance or None, default=None
        Seeds the choice of which samples are copied.

    Returns
    -------
    X_balanced : ndarray of shape (n_classes * max_count, ...)
        The original samples, in their order, followed by the copies.
    y_balanced : ndarray of shape (n_classes * max_count,)

    Notes
    -----
    What imbalanced-learn's ``RandomOverSampler()`` does by default, without the
    dependency.

    Examples
    --------
    >>> import numpy as np
    >>> from skbar.datasets import balance_classes
    >>> X, y = np.arange(5)[:, None], np.array([0, 0, 0, 1, 2])
    >>> Xb, yb = balance_classes(X, y, random_state=0)
    >>> np.bincount(yb)
    array([3, 3, 3])
    """
    X = np.asarray(X)
    y = np.asarray(y)
    if y.ndim != 1 or X.shape[0] != y.shape[0]:
        raise ValueError(
            f"y must be 1-d with one label per sample of X; got X of shape {X.shape} and "
            f"y of shape {y.shape}."
        )
    index = balanced_index(y, random_state)
    return X[index], y[index]
