"""A SIMULATED autism (ASD) cohort shaped like ABIDE, and a writer for ABIDE's file layout.

Nothing here is real data. The cohort has the shape of the paper's ASD task (Tsai et al.,
2020: 503 ASD and 531 control subjects, one 200x200 correlation matrix each) so that the
whole pipeline can be run, tested and timed without the ABIDE download; the accuracies it
gives say nothing about autism.
"""

import csv
from pathlib import Path

import numpy as np
from scipy.signal import lfilter
from sklearn.utils import Bunch, check_random_state

from ._abide import CC200_SUFFIX, PHENOTYPIC_CSV
from ._base import correlation_matrices

#: The functional communities the simulated regions belong to, in region order.
COMMUNITIES = (
    "visual",
    "somatomotor",
    "dorsal_attention",
    "salience",
    "limbic",
    "frontoparietal",
    "default_mode",
    "subcortical",
)

# Typical-development coupling between communities: the covariance of their latent
# signals. Each community's couplings sum to at most 0.75 so that, with the subject
# jitter below (at most 3 * _SUBJECT_SD per pair), every latent signal keeps unit
# variance with a non-negative private part.
_COUPLINGS = {
    ("visual", "somatomotor"): 0.15,
    ("visual", "dorsal_attention"): 0.25,
    ("somatomotor", "salience"): 0.15,
    ("dorsal_attention", "frontoparietal"): 0.15,
    ("salience", "frontoparietal"): 0.30,
    ("salience", "default_mode"): 0.30,
    ("frontoparietal", "default_mode"): 0.30,
    ("limbic", "subcortical"): 0.25,
}

#: The community pairs whose coupling the simulated ASD group has weakened: the long-range
#: links of the "triple network" (salience, central executive = frontoparietal, default
#: mode), whose disrupted connectivity is a common hypothesis for autism (Menon, 2011).
ALTERED_COMMUNITIES = (
    ("salience", "frontoparietal"),
    ("salience", "default_mode"),
    ("frontoparietal", "default_mode"),
)

# Weakening of each altered coupling at difficulty=1, on the covariance scale above.
# Calibrated so that a logistic regression on the full-size cohort's upper triangles
# reaches about 71% 10-fold CV accuracy (see make_asd_cohort, Notes).
_EFFECT = 0.09
# Between-subject standard deviation of every coupling: individual differences that no
# scan length averages away, so accuracy stays bounded however long the scans.
_SUBJECT_SD = 0.02
# Lag-one autocorrelation of the latent signals: BOLD is slow, which lowers the number of
# independent samples in a scan, and with it the precision of each correlation.
_AR_COEF = 0.5
# Subjects simulated at a time: bounds memory at about 40 MB whatever the cohort size.
_CHUNK = 128

DESCR = """\
.. _simulated_asd_cohort:

Simulated ASD cohort (SIMULATED DATA, not ABIDE)
-------------------------------------------------

A synthetic stand-in for the ABIDE autism task of Tsai et al. (2020), with its shape:
by default 503 "ASD" and 531 "control" subjects, one 200x200 Pearson correlation matrix
of region-of-interest (ROI) time series each. Every number is drawn from the network
model below; no subject, site or effect is real, and accuracies measured on it say
nothing about autism.

Model. The regions are split into 8 contiguous communities (visual, somatomotor,
dorsal_attention, salience, limbic, frontoparietal, default_mode, subcortical). Each
community has a latent AR(1) signal (unit variance); a region's series is its
community's signal times a loading in [0.45, 0.8], plus white noise, plus the site's
global signal. Communities are coupled through shared latent signals, so regions of two
coupled communities are correlated. The simulated ASD group has weaker coupling between
salience, frontoparietal and default_mode (``altered_communities``); every region pair
across those communities is an altered edge (``altered_edges``). Every subject's
couplings also vary around the group mean (between-subject SD 0.02).

Sites. Each subject belongs to one of ``n_sites`` simulated sites of unequal size; a site
has its own noise level (x0.8 to x1.3), global-signal strength and per-region offsets
(a scanner baseline, which leaves correlations unchanged). Diagnosis is independent of
site.

Difficulty. The weakening of each altered coupling is 0.09 / difficulty (capped at the
coupling itself); at difficulty=1 a logistic regression on the upper triangles reaches
about 71% 10-fold CV accuracy on the full cohort, 98% at difficulty=0.25 and about
52% (chance) at difficulty=4.

Fields: data (n, R, R) float32, target (1 = ASD, 0 = control), site, subject, file_id,
n_timepoints, feature_names, community, community_names, altered_communities, altered_edges, and
timeseries (n, T, R) when asked for.
"""


def make_asd_cohort(
    n_asd=503,
    n_control=531,
    n_regions=200,
    n_timepoints=176,
    difficulty=1.0,
    n_sites=20,
    random_state=None,
    return_timeseries=False,
    return_X_y=False,
):
    """Simulate an ASD vs control cohort of functional-connectivity matrices (SIMULATED).

    A stand-in for the ABIDE task of the paper with the same shape, for running, testing
    and timing the pipeline without the download. The data are simulated from a network
    model in which the ASD group has weakened long-range connectivity between three
    named communities; nothing in them is real.

    Parameters
    ----------
    n_asd, n_control : int, default=503, 531
        Number of simulated ASD and control subjects (the paper's ABIDE counts).
    n_regions : int, default=200
        Number of regions (ROIs), as in the CC200 atlas; at least 8 (one per community).
    n_timepoints : int, default=176
        Length of every simulated scan in volumes (an NYU scan, the largest ABIDE site;
        ABIDE scans run from 78 to 316). Longer scans give more precise correlations and
        an easier task.
    difficulty : float, default=1.0
        Divides the size of the group effect: each altered coupling is weakened by
        ``0.09 / difficulty``, capped at the coupling itself (cut entirely, from
        difficulty 0.3 down). At 1 a logistic regression reaches about 71% accuracy,
        at 0.25 about 98%, at 4 about 52%, near chance (see Notes).
    n_sites : int, default=20
        Number of simulated acquisition sites (ABIDE I has 20 site ids).
    random_state : int, RandomState instance or None, default=None
        Seeds everything; the same seed gives the same cohort bit for bit.
    return_timeseries : bool, default=False
        Also return the ROI time series (``Bunch.timeseries``), e.g. to write them to
        disk with :func:`write_abide_layout`. Costs ``n * n_timepoints * n_regions`` floats.
    return_X_y : bool, default=False
        Return ``(data, target)`` instead of a Bunch.

    Returns
    -------
    cohort : :class:`~sklearn.utils.Bunch`
        With the fields of :func:`load_abide`:

        data : ndarray of shape (n_asd + n_control, n_regions, n_regions), float32
            Pearson correlation matrices: symmetric, unit diagonal.
        target : ndarray of shape (n,), int
            1 = ASD, 0 = control. Subjects are in random order.
        site : ndarray of shape (n,), str
            Simulated site id (``"SIM01"``, ...).
        subject : ndarray of shape (n,), int
            Simulated subject id (``SUB_ID``).
        file_id : ndarray of shape (n,), str
            ``{site}_{subject:07d}``, as ABIDE's ``FILE_ID``.
        n_timepoints : ndarray of shape (n,), int
            Scan length, the same for every subject.
        feature_names : ndarray of shape (n_regions,), str
            Region names, ``"{community}_{k}"``.
        target_names : ndarray, ``["control", "ASD"]``
            The class names, indexed by ``target``.
        DESCR : str
            A description of the data set.

        and, particular to the simulation:

        community : ndarray of shape (n_regions,), int
            Index into ``community_names`` of each region's community.
        community_names : tuple of str
            The name of each community.
        altered_communities : tuple of (str, str)
            The community pairs whose coupling is weakened in the ASD group.
        altered_edges : ndarray of shape (n_altered, 2), int
            Every region pair ``(i, j)``, ``i < j``, across an altered community pair: the
            connections that differ between the groups. All others have the same
            distribution in both groups.
        effect : float
            The weakening applied to each altered coupling.
        timeseries : ndarray of shape (n, n_timepoints, n_regions), float32
            Only with ``return_timeseries=True``.

    (data, target) : tuple
        With ``return_X_y=True``.

    See Also
    --------
    load_abide : The real data, from the ABIDE Preprocessed files.
    write_abide_layout : Write a simulated cohort in ABIDE's on-disk format.

    Notes
    -----
    The network model, per subject and time point ``t``:

    - ``g_p(t)``, one latent AR(1) signal per coupled community pair ``p``; ``u_k(t)``, one
      private AR(1) signal per community; ``z(t)``, one global signal. All have unit
      variance and lag-one autocorrelation 0.5.
    - the community signal ``f_k = sum_p sqrt(w_p) g_p + sqrt(1 - sum_p w_p) u_k`` (sums
      over the pairs containing ``k``), so that ``cov(f_a, f_b) = w_ab``: the coupling.
    - ``w_p`` is the typical coupling, minus the effect for an ASD subject on an altered
      pair, plus a subject's own deviation (SD 0.02).
    - region ``i`` of community ``k`` at a site with noise level ``s`` and global-signal
      strength ``a``: ``x_i = l_i f_k + a z + s sqrt(1 - l_i^2) e_i + o_i``, with white
      noise ``e_i``, loading ``l_i`` and scanner offset ``o_i``.

    Then ``data`` is the Pearson correlation of the ``x_i``.

    Calibration, with ``i, j = np.triu_indices(n_regions, k=1)``, ``X = data[:, i, j]`` and
    ``LogisticRegression(max_iter=1000)`` (scikit-learn defaults otherwise), mean 10-fold
    stratified CV accuracy (shuffled, ``random_state=0``) on the default 1,034-subject
    cohort, ``random_state`` 0 to 4:
    0.71 at difficulty=1 (0.69 to 0.73 over the five seeds); on seed 1, 0.985 at 0.25,
    0.885 at 0.5, 0.59 at 2 and 0.525 at 4. Generating it takes about two seconds
    (1.5 s of CPU) and 160 MB for ``data``.

    References
    ----------
    Tsai, Y.-Y., Chen, P.-Y. and Ho, T.-Y. (2020). Transfer learning without knowing:
    reprogramming black-box machine learning models with scarce data and limited
    resources. ICML.

    Menon, V. (2011). Large-scale brain networks and psychopathology: a unifying triple
    network model. Trends in Cognitive Sciences, 15(10), 483-506.

    Examples
    --------
    >>> from skbar.datasets import make_asd_cohort
    >>> cohort = make_asd_cohort(n_asd=20, n_control=20, n_regions=40, random_state=0)
    >>> cohort.data.shape
    (40, 40, 40)
    >>> int(cohort.target.sum())
    20
    """
    n_asd = _check_count(n_asd, "n_asd", 0)
    n_control = _check_count(n_control, "n_control", 0)
    if n_asd + n_control < 1:
        raise ValueError("n_asd + n_control must be at least 1.")
    n_regions = _check_count(n_regions, "n_regions", len(COMMUNITIES))
    n_timepoints = _check_count(n_timepoints, "n_timepoints", 3)
    n_sites = _check_count(n_sites, "n_sites", 1)
    if not (np.isscalar(difficulty) and np.isfinite(difficulty) and difficulty > 0):
        raise ValueError(f"difficulty must be a positive finite number, got {difficulty!r}.")
    rng = check_random_state(random_state)
    # The bulk of the draws (two per region and volume) come from a Generator seeded by
    # random_state: float32 normals from it are 2-3 times faster than RandomState's.
    noise_rng = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
    n = n_asd + n_control

    # The atlas: contiguous communities and per-region loadings, shared by all subjects.
    community = np.repeat(
        np.arange(len(COMMUNITIES)),
        [len(block) for block in np.array_split(np.arange(n_regions), len(COMMUNITIES))],
    )
    loading = rng.uniform(0.45, 0.8, size=n_regions)
    pairs = [(COMMUNITIES.index(a), COMMUNITIES.index(b)) for a, b in _COUPLINGS]
    typical = np.array(list(_COUPLINGS.values()))
    altered = np.array([_altered(pair) for pair in _COUPLINGS])
    effect = min(_EFFECT / difficulty, typical[altered].min())
    # membership[p, k] = 1 when pair p involves community k.
    membership = np.zeros((len(pairs), len(COMMUNITIES)))
    for p, (a, b) in enumerate(pairs):
        membership[p, [a, b]] = 1.0

    # Sites of unequal size, as ABIDE's (at full size, from about 15 to 160 subjects).
    site_share = rng.dirichlet(np.full(n_sites, 3.0))
    site_noise = rng.uniform(0.8, 1.3, size=n_sites)
    site_global = rng.uniform(0.0, 0.5, size=n_sites)
    site_offset = rng.normal(0.0, 0.5, size=(n_sites, n_regions))

    target = rng.permutation(np.r_[np.ones(n_asd, dtype=int), np.zeros(n_control, dtype=int)])
    site = rng.choice(n_sites, size=n, p=site_share)
    coupling = typical - effect * np.outer(target, altered)
    coupling += rng.normal(0.0, _SUBJECT_SD, size=coupling.shape)
    # Clipping keeps each coupling a covariance (>= 0) and each community's total below 1.
    coupling = np.clip(coupling, 0.0, typical + 3 * _SUBJECT_SD)

    data = np.empty((n, n_regions, n_regions), dtype=np.float32)
    timeseries = (
        np.empty((n, n_timepoints, n_regions), dtype=np.float32) if return_timeseries else None
    )
    for start in range(0, n, _CHUNK):
        rows = slice(start, min(start + _CHUNK, n))
        ts = _simulate_timeseries(
            noise_rng,
            coupling[rows],
            membership,
            community,
            loading,
            site_noise[site[rows]],
            site_global[site[rows]],
            site_offset[site[rows]],
            n_timepoints,
        )
        data[rows] = correlation_matrices(ts, dtype=np.float32)
        if return_timeseries:
            timeseries[rows] = ts

    if return_X_y:
        return data, target

    subject = 50001 + np.arange(n)
    site_names = np.array([f"SIM{k + 1:02d}" for k in range(n_sites)])[site]
    counts = np.zeros(len(COMMUNITIES), dtype=int)
    feature_names = []
    for k in community:
        counts[k] += 1
        feature_names.append(f"{COMMUNITIES[k]}_{counts[k]}")
    cohort = Bunch(
        data=data,
        target=target,
        site=site_names,
        subject=subject,
        file_id=np.array([f"{s}_{sub:07d}" for s, sub in zip(site_names, subject)]),
        n_timepoints=np.full(n, n_timepoints),
        feature_names=np.array(feature_names),
        target_names=np.array(["control", "ASD"]),
        community=community,
        community_names=COMMUNITIES,
        altered_communities=ALTERED_COMMUNITIES,
        altered_edges=_altered_edges(community),
        effect=effect,
        DESCR=DESCR,
    )
    if return_timeseries:
        cohort.timeseries = timeseries
    return cohort


def _simulate_timeseries(
    rng, coupling, membership, community, loading, noise, global_signal, offset, n_timepoints
):
    """ROI time series ``(n, n_timepoints, n_regions)``, float32, for subjects with these couplings.

    Float32 throughout: the series only feed correlations, and it halves time and memory.
    """
    f32 = np.float32
    n, n_pairs = coupling.shape
    n_communities = membership.shape[1]
    # Shared pair signals, private community signals and the global signal, all AR(1)
    # with unit variance from the first volume (the first sample is drawn stationary).
    white = rng.standard_normal((n, n_timepoints, n_pairs + n_communities + 1), dtype=f32)
    white[:, 1:] *= f32(np.sqrt(1.0 - _AR_COEF**2))
    latent = lfilter([1.0], [1.0, -_AR_COEF], white, axis=1).astype(f32, copy=False)
    shared, private, glob = np.split(latent, [n_pairs, n_pairs + n_communities], axis=2)

    private_var = 1.0 - coupling @ membership  # (n, n_communities), >= 0 by the clipping
    signal = np.matmul(shared * np.sqrt(coupling).astype(f32)[:, None, :], membership.astype(f32))
    signal += private * np.sqrt(private_var).astype(f32)[:, None, :]

    ts = signal[:, :, community] * loading.astype(f32)
    ts += glob * global_signal.astype(f32)[:, None, None]
    scale = (noise[:, None, None] * np.sqrt(1.0 - loading**2)).astype(f32)
    ts += rng.standard_normal(ts.shape, dtype=f32) * scale
    ts += offset.astype(f32)[:, None, :]
    return ts


def _altered(pair):
    return pair in ALTERED_COMMUNITIES or pair[::-1] in ALTERED_COMMUNITIES


def _altered_edges(community):
    """Region pairs ``(i, j)``, ``i < j``, whose communities form an altered pair."""
    names = np.array(COMMUNITIES)[community]
    i, j = np.triu_indices(len(community), k=1)
    hit = np.array([_altered((a, b)) for a, b in zip(names[i], names[j])], dtype=bool)
    return np.column_stack([i[hit], j[hit]])


def _check_count(value, name, minimum):
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")
    return int(value)


def write_abide_layout(cohort, root, *, target=None, site=None, subject=None, feature_names=None):
    """Write ROI time series in the ABIDE Preprocessed on-disk format.

    Writes one ``{FILE_ID}_rois_cc200.1D`` file per subject and the phenotypic CSV
    ``Phenotypic_V1_0b_preprocessed1.csv``, as :func:`load_abide` reads them, so that a
    simulated cohort can exercise the loader end to end. Whatever is written from
    :func:`make_asd_cohort` is SIMULATED data.

    Parameters
    ----------
    cohort : Bunch or sequence of ndarray
        A Bunch from ``make_asd_cohort(..., return_timeseries=True)`` (its ``timeseries``,
        ``target``, ``site``, ``subject`` and ``feature_names`` are used), or a sequence of
        time-series arrays of shape (n_timepoints, n_regions), lengths free to differ.
    root : str or Path
        Folder to write into; created if missing.
    target : array-like of shape (n,), optional
        1 = ASD, 0 = control. Required when ``cohort`` is not a Bunch.
    site : array-like of shape (n,) of str, optional
        Site ids; default ``"SIM01"`` for all.
    subject : array-like of shape (n,) of int, optional
        Subject ids (``SUB_ID``); default 50001, 50002, ...
    feature_names : array-like of shape (n_regions,) of str, optional
        ROI names written in each file's header line; default ``"1"``, ``"2"``, ...

    Returns
    -------
    root : Path
        The folder, ready for ``load_abide(root)``.

    Notes
    -----
    The files follow ABIDE Preprocessed: a ``.1D`` file is tab-separated text, a header
    line of ``#``-prefixed ROI names, then one row per volume. The CSV has ABIDE's
    leading unnamed index column and the columns ``SUB_ID``, ``SITE_ID``, ``FILE_ID``
    (``{SITE_ID}_{SUB_ID:07d}``) and ``DX_GROUP`` (1 = ASD, 2 = control).
    """
    if isinstance(cohort, Bunch):
        if "timeseries" not in cohort:
            raise ValueError(
                "The cohort has no time series to write; make it with "
                "make_asd_cohort(..., return_timeseries=True)."
            )
        timeseries = cohort.timeseries
        target = cohort.target if target is None else target
        site = cohort.site if site is None else site
        subject = cohort.subject if subject is None else subject
        feature_names = cohort.get("feature_names") if feature_names is None else feature_names
    else:
        timeseries = cohort
        if target is None:
            raise ValueError("target is required when cohort is a sequence of time series.")
    timeseries = [np.asarray(ts) for ts in timeseries]
    n = len(timeseries)
    target = np.asarray(target)
    if not np.isin(target, (0, 1)).all():
        raise ValueError(
            f"target must hold 1 (ASD) or 0 (control), got the values {np.unique(target)}."
        )
    site = np.full(n, "SIM01") if site is None else np.asarray(site)
    subject = 50001 + np.arange(n) if subject is None else np.asarray(subject)
    if not (len(target) == len(site) == len(subject) == n):
        raise ValueError(
            f"Got {n} time series but {len(target)} targets, {len(site)} sites and "
            f"{len(subject)} subject ids; expected one of each per subject."
        )

    root = Path(root).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for i, (ts, label, site_id, sub_id) in enumerate(zip(timeseries, target, site, subject)):
        if ts.ndim != 2:
            raise ValueError(
                f"Time series {i} has shape {ts.shape}; expected (n_timepoints, n_regions)."
            )
        names = feature_names if feature_names is not None else range(1, ts.shape[1] + 1)
        file_id = f"{site_id}_{int(sub_id):07d}"
        header = "\t".join(f"#{name}" for name in names)
        np.savetxt(
            root / f"{file_id}{CC200_SUFFIX}",
            ts,
            fmt="%.6f",
            delimiter="\t",
            header=header,
            comments="",
        )
        rows.append([i, int(sub_id), site_id, file_id, 1 if label == 1 else 2])  # DX_GROUP
    with open(root / PHENOTYPIC_CSV, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["", "SUB_ID", "SITE_ID", "FILE_ID", "DX_GROUP"])
        writer.writerows(rows)
    return root
