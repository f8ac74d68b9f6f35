"""Kaggle Diabetic Retinopathy Detection: retinal fundus photographs graded 0 to 4.

The paper's DR task (Tsai et al., 2020) grades fundus photographs into the 5 levels of
the Kaggle challenge, from 5,400 training and 2,400 test images. This module reads the
files as Kaggle distributes them; nothing is downloaded.
"""

import numpy as np

from ._base import load_labelled_images

LABELS_CSV = "trainLabels.csv"
#: Names of the grades 0 to 4.
GRADES = ("No DR", "Mild", "Moderate", "Severe", "Proliferative DR")

DESCR = """\
.. _retinopathy_dataset:

Kaggle Diabetic Retinopathy Detection (EyePACS)
-----------------------------------------------

35,126 training photographs of the retinal fundus (left and right eye of each
patient, JPEG of varying size, up to about 5000x3500), each graded by a clinician for
diabetic retinopathy on a scale of 0 to 4:

=====  ================  ======
level  grade             images
=====  ================  ======
0      No DR             25,810
1      Mild              2,443
2      Moderate          5,292
3      Severe            873
4      Proliferative DR  708
=====  ================  ======

Tsai et al. (2020) use 5,400 images for training and 2,400 for testing.

Loaded from the user's copy: the ``{image}.jpeg`` photographs (``train/``) and
``trainLabels.csv`` (columns ``image,level``).

Reference: Kaggle (2015), Diabetic Retinopathy Detection,
https://www.kaggle.com/c/diabetic-retinopathy-detection; images from EyePACS.
"""


def load_retinopathy(
    root,
    *,
    size=192,
    labels=None,
    n_samples=None,
    strict=False,
    random_state=None,
    return_X_y=False,
):
    """Load the Kaggle diabetic retinopathy photographs and their grades (5 classes).

    Parameters
    ----------
    root : str or Path
        Folder holding the ``{image}.jpeg`` photographs (in it or anywhere below it,
        e.g. ``train/``) and, unless ``labels`` is given, ``trainLabels.csv``.
    size : int or (int, int), default=192
        Output ``(height, width)``, or the side of a square. 192 leaves a 16-pixel frame
        for the program around the image on a 224x224 ImageNet canvas; the aspect ratio
        is not kept.
    labels : str or Path, optional
        Path of ``trainLabels.csv``; by default searched for under ``root``.
    n_samples : int, optional
        Load only this many photographs, drawn at random without replacement. All 35,126
        at 192x192 take 15 GB as float32; the paper uses 7,800.
    strict : bool, default=False
        Raise if an image listed in the CSV has no file, instead of skipping it with a
        warning.
    random_state : int, RandomState instance or None, default=None
        Seeds ``n_samples``.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    retinopathy : :class:`~sklearn.utils.Bunch`
        data : ndarray of shape (n, height, width, 3), float32
            RGB in ``[0, 1]``, resized with Pillow (bilinear).
        target : ndarray of shape (n,), int
            Grade 0 to 4.
        target_names : ndarray of shape (5,), str
            ``No DR, Mild, Moderate, Severe, Proliferative DR``.
        image : ndarray of shape (n,), str
            Image id (``10_left``).
        filename : ndarray of shape (n,), str
            The path of each file read.
        DESCR : str
            A description of the data set.

        Images are in the order of the CSV.

    (data, target) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        If ``root`` or the CSV does not exist, if no ``.jpeg`` is found, or (with
        ``strict=True``) if a listed image has no file.
    ValueError
        If the CSV lacks a column, a level is not an integer from 0 to 4, or an image
        cannot be decoded. Each message names the file.

    Warns
    -----
    UserWarning
        With the count of listed images that have no file, when ``strict=False``.

    See Also
    --------
    balance_classes : Oversample the minority grades, on a training split.

    Notes
    -----
    The JPEG decoder is asked for a reduced scale close to ``size`` before resizing
    (Pillow's ``draft``), which makes loading a multi-megapixel photograph many times
    faster.

    References
    ----------
    Tsai, Y.-Y., Chen, P.-Y. and Ho, T.-Y. (2020). Transfer learning without knowing:
    reprogramming black-box machine learning models with scarce data and limited
    resources. ICML.
    """
    retinopathy = load_labelled_images(
        root,
        csv_name=LABELS_CSV,
        csv_path=labels,
        columns=("level",),
        suffix=".jpeg",
        parse_label=_grade,
        size=size,
        n_samples=n_samples,
        strict=strict,
        random_state=random_state,
    )
    if return_X_y:
        return retinopathy.data, retinopathy.target
    retinopathy.update(target_names=np.array(GRADES), DESCR=DESCR)
    return retinopathy


def _grade(row, csv_path):
    """The level of a label row, after checking it is an integer from 0 to 4."""
    text = row["level"]
    if not (text.isdigit() and int(text) < len(GRADES)):
        raise ValueError(
            f"{str(csv_path)!r}: the level of {row['image']!r} is {text!r}; "
            f"expected an integer from 0 to {len(GRADES) - 1}."
        )
    return int(text)
