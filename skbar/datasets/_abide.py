"""ABIDE Preprocessed: CC200 ROI time series to one correlation matrix per subject.

The paper's ASD task (Tsai et al., 2020) classifies subjects of the Autism Brain Imaging
Data Exchange (ABIDE I) from the 200x200 correlation matrix of their resting-state fMRI
region time series. This module reads the files as the ABIDE Preprocessed initiative
distributes them; nothing is downloaded.
"""

import warnings

import numpy as np
from sklearn.utils import Bunch

from ._base import (
    as_directory,
    check_unique,
    correlation_matrices,
    find_file,
    index_files,
    match_files,
    read_csv,
)

PHENOTYPIC_CSV = "Phenotypic_V1_0b_preprocessed1.csv"
CC200_SUFFIX = "_rois_cc200.1D"
# ABIDE's FILE_ID for a subject the preprocessing excluded: no derivative exists for it.
_NO_FILE = "no_filename"
_COLUMNS = ("SUB_ID", "FILE_ID", "SITE_ID", "DX_GROUP")

DESCR = """\
.. _abide_dataset:

ABIDE Preprocessed, CC200 functional connectivity
-------------------------------------------------

The Autism Brain Imaging Data Exchange (ABIDE I) as preprocessed by the Preprocessed
Connectomes Project: resting-state fMRI of 1,112 subjects (autism spectrum disorder
and typical controls) from 20 site ids, reduced to the mean time series of the 200
regions of the Craddock 200 (CC200) atlas. Tsai et al. (2020) use 1,034 of them (503 ASD,
531 control), one 200x200 correlation matrix per subject, embedded in the source
model's input.

Loaded from the user's copy: one ``{FILE_ID}_rois_cc200.1D`` file per subject and the
phenotypic spreadsheet ``Phenotypic_V1_0b_preprocessed1.csv`` (DX_GROUP 1 = ASD,
2 = control, here 1 and 0). The pipeline and strategy (e.g. cpac/filt_global) are the
ones the user downloaded.

Reference: Craddock et al. (2013), The Neuro Bureau Preprocessing Initiative: open
sharing of preprocessed neuroimaging data and derivatives. Frontiers in
Neuroinformatics. http://preprocessed-connectomes-project.org/abide/
"""


def load_abide(
    root,
    *,
    phenotypic=None,
    atlas="cc200",
    n_regions=200,
    strict=False,
    return_X_y=False,
):
    """Load ABIDE Preprocessed ROI time series as one correlation matrix per subject.

    Reads the files as a user has them after downloading ABIDE Preprocessed: a folder
    (searched recursively) of ``{FILE_ID}_rois_cc200.1D`` files and the phenotypic CSV.
    Subjects are matched to files by ``FILE_ID``. Nothing is downloaded.

    Parameters
    ----------
    root : str or Path
        Folder holding the ``.1D`` files, in it or anywhere below it (e.g. in
        ``Outputs/cpac/filt_global/rois_cc200/``), and, unless ``phenotypic`` is given,
        the phenotypic CSV.
    phenotypic : str or Path, optional
        Path of ``Phenotypic_V1_0b_preprocessed1.csv``; by default searched for under
        ``root``. Needs the columns ``SUB_ID``, ``FILE_ID``, ``SITE_ID`` and ``DX_GROUP``.
    atlas : str, default="cc200"
        The ROI derivative: files are ``{FILE_ID}_rois_{atlas}.1D``.
    n_regions : int, default=200
        Number of ROI columns every file must have (200 for CC200; 392 for CC400).
    strict : bool, default=False
        Raise if a subject listed in the CSV has no file, instead of skipping it with a
        warning. Rows whose ``FILE_ID`` is ``no_filename`` (ABIDE's mark for subjects the
        preprocessing excluded) are always left out, without a warning.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    abide : :class:`~sklearn.utils.Bunch`
        data : ndarray of shape (n_subjects, n_regions, n_regions), float32
            Pearson correlation matrix of each subject's ROI time series: symmetric,
            unit diagonal. A region whose time series is constant (zero variance, e.g.
            outside the subject's field of view) has no defined correlation; its
            off-diagonal row and column are set to 0 rather than NaN.
        target : ndarray of shape (n_subjects,), int
            1 = ASD, 0 = control (ABIDE's DX_GROUP 1 and 2).
        site : ndarray of shape (n_subjects,), str
            ``SITE_ID``.
        subject : ndarray of shape (n_subjects,), int
            ``SUB_ID``.
        file_id : ndarray of shape (n_subjects,), str
            ``FILE_ID``.
        n_timepoints : ndarray of shape (n_subjects,), int
            Length of each subject's scan (it varies by site).
        feature_names : ndarray of shape (n_regions,), str
            ROI names from the header line of the first file (without the ``#``), or
            ``"1"``, ``"2"``, ... if it has none.
        target_names : ndarray, ``["control", "ASD"]``
            The class names, indexed by ``target``.
        filename : ndarray of shape (n_subjects,), str
            Path each subject was read from.
        DESCR : str
            A description of the data set.

        Subjects are in the order of the CSV.

    (data, target) : tuple
        With ``return_X_y=True``.

    Raises
    ------
    FileNotFoundError
        If ``root`` or the CSV does not exist, if no ``.1D`` file is found, or (with
        ``strict=True``) if a listed subject has no file.
    ValueError
        If the CSV lacks a column or holds an unreadable ``SUB_ID`` or ``DX_GROUP``, or
        if a ``.1D`` file has the wrong number of columns, an unreadable or non-finite
        number, or fewer than 2 time points. Each message names the file.

    Warns
    -----
    UserWarning
        With the count of listed subjects that have no file, when ``strict=False``.

    See Also
    --------
    make_asd_cohort : A simulated cohort of the same shape, for tests and examples.

    Notes
    -----
    A ``.1D`` file is whitespace-separated text: a header line starting with ``#`` that
    lists the ROI columns, then one row per volume with one value per ROI. Correlations
    are computed in float64 and stored as float32.

    References
    ----------
    Tsai, Y.-Y., Chen, P.-Y. and Ho, T.-Y. (2020). Transfer learning without knowing:
    reprogramming black-box machine learning models with scarce data and limited
    resources. ICML.

    Examples
    --------
    >>> import tempfile
    >>> from skbar.datasets import load_abide, make_asd_cohort, write_abide_layout
    >>> cohort = make_asd_cohort(5, 5, n_regions=16, return_timeseries=True, random_state=0)
    >>> root = write_abide_layout(cohort, tempfile.mkdtemp())
    >>> X, y = load_abide(root, n_regions=16, return_X_y=True)
    >>> X.shape, int(y.sum())
    ((10, 16, 16), 5)
    """
    root = as_directory(root, "ABIDE")
    csv_path = find_file(root, PHENOTYPIC_CSV, phenotypic)
    rows = [row for row in read_csv(csv_path, _COLUMNS) if row["FILE_ID"] != _NO_FILE]
    if not rows:
        raise ValueError(
            f"{str(csv_path)!r} lists no subject with a FILE_ID other than {_NO_FILE!r}."
        )
    file_ids = [row["FILE_ID"] for row in rows]
    check_unique(file_ids, csv_path, "FILE_ID")

    suffix = f"_rois_{atlas}.1D"
    files = index_files(root, suffix)
    keep = match_files(file_ids, files, strict, csv_path, root)
    rows = [rows[i] for i in keep]
    target = np.array([_diagnosis(row, csv_path) for row in rows], dtype=int)
    subject = np.array([_integer(row, "SUB_ID", csv_path) for row in rows], dtype=int)

    data = np.empty((len(rows), n_regions, n_regions), dtype=np.float32)
    n_timepoints = np.empty(len(rows), dtype=int)
    feature_names = None
    for i, row in enumerate(rows):
        ts, names = read_roi_timeseries(files[row["FILE_ID"]], n_regions)
        if feature_names is None:
            feature_names = names
        data[i] = correlation_matrices(ts[None])[0]
        n_timepoints[i] = ts.shape[0]

    if return_X_y:
        return data, target
    return Bunch(
        data=data,
        target=target,
        site=np.array([row["SITE_ID"] for row in rows]),
        subject=subject,
        file_id=np.array([row["FILE_ID"] for row in rows]),
        n_timepoints=n_timepoints,
        feature_names=np.array(feature_names),
        target_names=np.array(["control", "ASD"]),
        filename=np.array([str(files[row["FILE_ID"]]) for row in rows]),
        DESCR=DESCR,
    )


def read_roi_timeseries(path, n_regions):
    """Read one ABIDE ``.1D`` ROI time-series file.

    Parameters
    ----------
    path : Path
    n_regions : int
        Number of columns the file must have.

    Returns
    -------
    timeseries : ndarray of shape (n_timepoints, n_regions), float64
    names : list of str
        The ROI names of the header line without their ``#``, or ``"1"``, ``"2"``, ...
        when there is no header line with one name per column.

    Raises
    ------
    ValueError
        Naming ``path``, if a value is not a number, a row has another length than the
        others, the file does not have ``n_regions`` columns, a value is NaN or
        infinite, or there are fewer than 2 time points.
    """
    with open(path) as fh:
        first = fh.readline()
        fh.seek(0)
        try:
            with warnings.catch_warnings():
                # An empty file is reported below, with its name, rather than as
                # numpy's anonymous "input contained no data".
                warnings.simplefilter("ignore", UserWarning)
                # comments="#": the header line, and any other comment line, is skipped.
                ts = np.loadtxt(fh, comments="#", ndmin=2, dtype=np.float64)
        except ValueError as exc:
            # numpy's advice to pass `usecols` is about its API, not about this file.
            reason = str(exc).split("; use `usecols`")[0]
            raise ValueError(
                f"Cannot read {str(path)!r}: {reason}. Expected whitespace-separated numbers, "
                f"{n_regions} per line."
            ) from exc
    if ts.shape[0] < 2:
        raise ValueError(
            f"{str(path)!r} has {ts.shape[0]} time point(s); a correlation needs at least 2 rows."
        )
    if ts.shape[1] != n_regions:
        raise ValueError(
            f"{str(path)!r} has {ts.shape[1]} columns; expected {n_regions} (one per ROI)."
        )
    if not np.all(np.isfinite(ts)):
        row = int(np.flatnonzero(~np.isfinite(ts).all(axis=1))[0])
        raise ValueError(
            f"{str(path)!r} holds a NaN or infinite value in data row {row + 1}; "
            f"expected finite numbers."
        )
    header = first.split() if first.lstrip().startswith("#") else []
    names = [name.lstrip("#") for name in header if name.lstrip("#")]
    if len(names) != n_regions:
        names = [str(k) for k in range(1, n_regions + 1)]
    return ts, names


def _diagnosis(row, csv_path):
    """ABIDE's DX_GROUP (1 = ASD, 2 = control) as the target (1 = ASD, 0 = control)."""
    value = _integer(row, "DX_GROUP", csv_path)
    if value not in (1, 2):
        raise ValueError(
            f"{str(csv_path)!r}: DX_GROUP of {row['FILE_ID']!r} is {row['DX_GROUP']!r}; "
            f"expected 1 (ASD) or 2 (control)."
        )
    return 1 if value == 1 else 0


def _integer(row, column, csv_path):
    try:
        value = float(row[column])
    except ValueError:
        value = np.nan
    if not (np.isfinite(value) and value == int(value)):
        raise ValueError(
            f"{str(csv_path)!r}: {column} of {row['FILE_ID']!r} is {row[column]!r}; expected an integer."
        )
    return int(value)
