"""ISIC 2018 task 3 / HAM10000: dermoscopy images of seven kinds of skin lesion.

The paper's melanoma task (Tsai et al., 2020) classifies the ISIC 2018 lesion images,
resized from 450x600 to 64x64, into 7 classes, after re-sampling the training data so
that every class has the same size. This module reads the files as ISIC distributes
them; nothing is downloaded.
"""

import numpy as np
from sklearn.utils import check_random_state

from ._base import balanced_index, load_labelled_images

GROUND_TRUTH_CSV = "ISIC2018_Task3_Training_GroundTruth.csv"
#: The ground-truth columns, in the order of the class indices.
CLASSES = ("MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC")

DESCR = """\
.. _melanoma_dataset:

ISIC 2018 task 3 (HAM10000): skin lesion classification
--------------------------------------------------------

10,015 dermoscopy images (600x450 JPEG) from the HAM10000 collection, released as the
training set of the ISIC 2018 challenge, task 3, each with one of 7 diagnoses:

=====  ===================================================  ======
index  class                                                images
=====  ===================================================  ======
0      MEL: melanoma                                        1,113
1      NV: melanocytic nevus                                6,705
2      BCC: basal cell carcinoma                            514
3      AKIEC: actinic keratosis / Bowen's disease           327
4      BKL: benign keratosis                                1,099
5      DF: dermatofibroma                                   115
6      VASC: vascular lesion                                142
=====  ===================================================  ======

Tsai et al. (2020) resize the images to 64x64 and re-sample the training data so that
every class has the same size (``balance_classes``).

Loaded from the user's copy: the ``ISIC_XXXXXXX.jpg`` images and
``ISIC2018_Task3_Training_GroundTruth.csv`` (``image`` and one-hot columns
``MEL,NV,BCC,AKIEC,BKL,DF,VASC``).

References: Tschandl, Rosendahl and Kittler (2018), The HAM10000 dataset, a large
collection of multi-source dermatoscopic images of common pigmented skin lesions,
Scientific Data 5, 180161. Codella et al. (2019), Skin lesion analysis toward melanoma
detection 2018, arXiv:1902.03368.
"""


def load_melanoma(
    root,
    *,
    size=64,
    labels=None,
    resample=False,
    n_samples=None,
    strict=False,
    random_state=None,
    return_X_y=False,
):
    """Load the ISIC 2018 task 3 (HAM10000) lesion images and their 7-class diagnoses.

    Parameters
    ----------
    root : str or Path
        Folder holding the ``ISIC_XXXXXXX.jpg`` images (in it or anywhere below it, e.g.
        ``ISIC2018_Task3_Training_Input/``) and, unless ``labels`` is given, the ground
        truth CSV.
    size : int or (int, int), default=64
        Output ``(height, width)``, or the side of a square; 64 as in the paper. The
        aspect ratio is not kept (600x450 becomes 64x64).
    labels : str or Path, optional
        Path of ``ISIC2018_Task3_Training_GroundTruth.csv``; by default searched for
        under ``root``.
    resample : bool, default=False
        Oversample every minority class to the majority count, as the paper does to its
        training data (see :func:`balance_classes`). Off by default because it copies
        images: split first, then balance the training part, or a copy of a test image
        ends up in training.
    n_samples : int, optional
        Load only this many images, drawn at random without replacement (before
        ``resample``), e.g. for a quick experiment.
    strict : bool, default=False
        Raise if an image listed in the CSV has no file, instead of skipping it with a
        warning.
    random_state : int, RandomState instance or None, default=None
        Seeds ``n_samples`` and ``resample``.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    melanoma : :class:`~sklearn.utils.Bunch`
        data : ndarray of shape (n, height, width, 3), float32
            RGB in ``[0, 1]``, resized with Pillow (bilinear).
        target : ndarray of shape (n,), int
            Class index into ``target_names``.
        target_names : ndarray of shape (7,), str
            ``MEL, NV, BCC, AKIEC, BKL, DF, VASC``.
        image : ndarray of shape (n,), str
            Image id (``ISIC_0024306``); repeated for oversampled copies.
        filename : ndarray of shape (n,), str
            The path of each file read.
        DESCR : str
            A description of the data set.

        Images are in the order of the CSV; with ``resample=True`` the copies follow.

    (data, target) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        If ``root`` or the CSV does not exist, if no ``.jpg`` is found, or (with
        ``strict=True``) if a listed image has no file.
    ValueError
        If the CSV lacks a column, or a row is not one-hot over the 7 classes, or an
        image cannot be decoded. Each message names the file.

    Warns
    -----
    UserWarning
        With the count of listed images that have no file, when ``strict=False``.

    See Also
    --------
    balance_classes : The paper's class re-sampling, to apply after splitting.

    Notes
    -----
    The JPEG decoder is asked for a reduced scale close to ``size`` before resizing
    (Pillow's ``draft``), which makes loading several times faster.

    References
    ----------
    Tsai, Y.-Y., Chen, P.-Y. and Ho, T.-Y. (2020). Transfer learning without knowing:
    reprogramming black-box machine learning models with scarce data and limited
    resources. ICML.
    """
    # One generator for both draws, so that one seed fixes the subsample and the copies.
    rng = check_random_state(random_state)
    melanoma = load_labelled_images(
        root,
        csv_name=GROUND_TRUTH_CSV,
        csv_path=labels,
        columns=CLASSES,
        suffix=".jpg",
        parse_label=_one_hot_class,
        size=size,
        n_samples=n_samples,
        strict=strict,
        random_state=rng,
    )
    if resample:
        index = balanced_index(melanoma.target, rng)
        for field in ("data", "target", "image", "filename"):
            melanoma[field] = melanoma[field][index]
    if return_X_y:
        return melanoma.data, melanoma.target
    melanoma.update(target_names=np.array(CLASSES), DESCR=DESCR)
    return melanoma


def _one_hot_class(row, csv_path):
    """The class index of a ground-truth row, after checking it is one-hot."""
    try:
        values = np.array([float(row[c]) for c in CLASSES])
    except ValueError:
        values = np.full(len(CLASSES), np.nan)
    if not (np.isin(values, (0.0, 1.0)).all() and values.sum() == 1.0):
        shown = ",".join(row[c] for c in CLASSES)
        raise ValueError(
            f"{str(csv_path)!r}: the row of {row['image']!r} is {shown}; expected one 1.0 "
            f"and six 0.0 over {','.join(CLASSES)}."
        )
    return int(np.argmax(values))
