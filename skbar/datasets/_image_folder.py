"""Images on disk in the "one sub-folder per class" layout (torchvision's ImageFolder)."""

import numpy as np

from ._base import ImageFiles, as_directory, image_size, load_images, open_image

#: The file types read, by suffix (any case); other files are skipped.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def load_image_folder(path, *, size=None, lazy=False):
    """Load images laid out one sub-folder per class, ready for ``fit``.

    ::

        path/
          cat/  001.png  002.jpg ...
          dog/  001.png ...

    Every PNG or JPEG file (``.png``, ``.jpg``, ``.jpeg``, any case) directly in a
    sub-folder of ``path`` is one sample, labelled by the sub-folder's name. Other files,
    hidden files and folders (names starting with ``.``) and deeper folders are skipped.
    Images are read with Pillow and converted to RGB, 8-bit ones divided by 255 and
    16-bit ones (PNG) by 65535.

    Parameters
    ----------
    path : str or path-like
        The folder that holds one sub-folder per class.
    size : int or (int, int), default=None
        ``(height, width)`` every image is resized to (bilinear; the aspect ratio is not
        kept). None keeps the images as they are, and then they must all have one size:
        images of mixed sizes are refused, not silently resized.
    lazy : bool, default=False
        Return ``X`` as :class:`~skbar.datasets.ImageFiles`, which decodes only the
        images a batch needs, instead of decoding every image now: for folders larger
        than memory. Unreadable files are then named when they are first decoded (a
        fit reads every image once, for its data range, before its first query).

    Returns
    -------
    X : ndarray of shape (n_samples, height, width, 3), float32, or ImageFiles
        Pixels in ``[0, 1]``, classes in sorted order of their folder names, files in
        sorted order of their names within each class (``lazy=True``: the same,
        decoded when indexed).
    y : ndarray of shape (n_samples,) of str
        The class (sub-folder name) of each image.

    Raises
    ------
    FileNotFoundError
        If ``path`` is not a folder.
    ValueError
        If ``path`` has no class sub-folder, a class sub-folder holds no PNG or JPEG
        file, a file cannot be read as an image or declares more pixels than Pillow's
        limit, ``PIL.Image.MAX_IMAGE_PIXELS`` (the message names it), or, with
        ``size=None``, the images do not all have one size (the message names two that
        differ).

    See Also
    --------
    skbar.datasets.load_melanoma : Images labelled by a CSV file, as ISIC ships them.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> import numpy as np
    >>> from PIL import Image
    >>> from skbar.datasets import load_image_folder
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for label, value in [("dark", 20), ("light", 230)]:
    ...     (root / label).mkdir()
    ...     for i in range(3):
    ...         pixels = np.full((8, 8, 3), value, dtype=np.uint8)
    ...         Image.fromarray(pixels).save(root / label / f"{i}.png")
    >>> X, y = load_image_folder(root)
    >>> X.shape, y.tolist()
    ((6, 8, 8, 3), ['dark', 'dark', 'dark', 'light', 'light', 'light'])
    >>> load_image_folder(root, size=4)[0].shape
    (6, 4, 4, 3)
    """
    wanted = None if size is None else image_size(size)
    root = as_directory(path, "Image")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{str(root)!r} has no sub-folder; expected one sub-folder of "
                         "images per class.")
    paths, labels = [], []
    for folder in classes:
        files = sorted(p for p in folder.iterdir() if p.is_file()
                       and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise ValueError(f"The class folder {str(folder)!r} holds no PNG or JPEG file "
                             f"({', '.join(IMAGE_SUFFIXES)}); remove it or add its images.")
        paths += files
        labels += [folder.name] * len(files)
    if wanted is None:
        # The sizes come from the files' headers: a folder of mixed sizes is refused
        # before any image is decoded.
        first = None
        for file in paths:
            with open_image(file) as img:
                width, height = img.size
            if first is None:
                first = (file, (height, width))
            elif (height, width) != first[1]:
                raise ValueError(
                    f"The images have different sizes: {str(first[0])!r} is "
                    f"{first[1][1]}x{first[1][0]} pixels but {str(file)!r} is "
                    f"{width}x{height}; pass size=(height, width) to resize them all.")
        wanted = first[1]
    if lazy:
        return ImageFiles(paths, wanted), np.array(labels)
    return load_images(paths, wanted), np.array(labels)
