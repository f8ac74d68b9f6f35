"""skbar.datasets: the loaders read the files as the data sets ship them, the simulated
ASD cohort has the paper's shape and a difficulty knob that really moves accuracy."""

import csv
import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score

from skbar.datasets import (
    balance_classes,
    load_abide,
    load_melanoma,
    load_retinopathy,
    make_asd_cohort,
    write_abide_layout,
)
from skbar.datasets._base import correlation_matrices

PHENOTYPIC = "Phenotypic_V1_0b_preprocessed1.csv"


# ---------------------------------------------------------------- ABIDE fixtures


def write_1d(path, ts, header=True):
    """A CC200 file as ABIDE Preprocessed ships it: '#'-prefixed ROI header, tab-separated rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(f"#{k}" for k in range(1, ts.shape[1] + 1))] if header else []
    lines += ["\t".join(f"{v:.6f}" for v in row) for row in ts]
    path.write_text("\n".join(lines) + "\n")


def write_phenotypic(path, rows):
    """The phenotypic CSV: ABIDE's unnamed index column, the needed columns, an extra one."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["", "SUB_ID", "X", "SITE_ID", "FILE_ID", "DX_GROUP", "AGE_AT_SCAN"])
        for i, (sub_id, site, file_id, dx) in enumerate(rows):
            writer.writerow([i, sub_id, i + 1, site, file_id, dx, "12.5"])


@pytest.fixture
def abide(tmp_path):
    """Three subjects with scans of different lengths, files in the nested download layout,
    CSV in an order that is not the files' order, a no_filename row and an unlisted file."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "Outputs" / "cpac" / "filt_global" / "rois_cc200"
    subjects = [  # (SUB_ID, SITE_ID, FILE_ID, DX_GROUP, n_timepoints)
        (51036, "NYU", "NYU_0051036", 2, 176),
        (50003, "PITT", "Pitt_0050003", 1, 196),
        (51456, "CALTECH", "Caltech_0051456", 1, 146),
    ]
    for _, _, file_id, _, n_t in subjects:
        # A shared component makes the correlations far from zero, so a mix-up shows.
        shared = rng.standard_normal((n_t, 1))
        ts = shared * rng.uniform(0, 2, 200) + rng.standard_normal((n_t, 200))
        write_1d(folder / f"{file_id}_rois_cc200.1D", ts)
    write_1d(folder / "Yale_0050551_rois_cc200.1D", rng.standard_normal((10, 200)))
    rows = [s[:4] for s in subjects] + [(50002, "PITT", "no_filename", 1)]
    write_phenotypic(tmp_path / PHENOTYPIC, rows)
    return tmp_path, subjects


def test_load_abide_gives_one_corrcoef_matrix_per_subject_matched_by_file_id(abide):
    root, subjects = abide
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no_filename rows and unlisted files are not news
        bunch = load_abide(root)

    assert bunch.data.shape == (3, 200, 200) and bunch.data.dtype == np.float32
    assert list(bunch.file_id) == [s[2] for s in subjects]  # the CSV's order
    assert list(bunch.subject) == [s[0] for s in subjects]
    assert list(bunch.site) == [s[1] for s in subjects]
    assert list(bunch.target) == [0, 1, 1]  # DX_GROUP 2 = control -> 0, 1 = ASD -> 1
    assert list(bunch.n_timepoints) == [s[4] for s in subjects]
    assert list(bunch.feature_names[:3]) == ["1", "2", "3"]
    assert list(bunch.target_names) == ["control", "ASD"]
    for corr, file_id in zip(bunch.data, bunch.file_id):
        path = next(root.rglob(f"{file_id}_rois_cc200.1D"))
        expected = np.corrcoef(np.loadtxt(path, comments="#").T)
        np.testing.assert_allclose(corr, expected, atol=1e-6)
        np.testing.assert_array_equal(corr, corr.T)
        np.testing.assert_array_equal(np.diag(corr), 1.0)

    X, y = load_abide(root, return_X_y=True)
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)


def test_constant_roi_gets_zero_correlations_not_nan(tmp_path):
    rng = np.random.default_rng(1)
    ts = rng.standard_normal((50, 200))
    ts[:, 7] = 3.25  # a region outside the field of view
    write_1d(tmp_path / "Pitt_0050003_rois_cc200.1D", ts)
    write_phenotypic(tmp_path / PHENOTYPIC, [(50003, "PITT", "Pitt_0050003", 1)])

    corr = load_abide(tmp_path).data[0]

    assert np.isfinite(corr).all()
    assert corr[7, 7] == 1.0
    np.testing.assert_array_equal(np.delete(corr[7], 7), 0.0)
    np.testing.assert_array_equal(np.delete(corr[:, 7], 7), 0.0)
    others = np.delete(np.arange(200), 7)
    expected = np.corrcoef(np.loadtxt(tmp_path / "Pitt_0050003_rois_cc200.1D").T[others])
    np.testing.assert_allclose(corr[np.ix_(others, others)], expected, atol=1e-6)


def test_listed_subject_without_file_is_skipped_with_a_count_or_an_error(abide):
    root, subjects = abide
    rows = [s[:4] for s in subjects] + [(50004, "PITT", "Pitt_0050004", 2)]
    write_phenotypic(root / PHENOTYPIC, rows)

    with pytest.warns(UserWarning, match=r"1 of the 4 samples .* no file .*Pitt_0050004"):
        bunch = load_abide(root)
    assert len(bunch.target) == 3
    with pytest.raises(FileNotFoundError, match="Pitt_0050004"):
        load_abide(root, strict=True)


def _drop_column(root):
    with open(root / PHENOTYPIC) as fh:
        rows = list(csv.reader(fh))
    dx = rows[0].index("DX_GROUP")
    with open(root / PHENOTYPIC, "w", newline="") as fh:
        csv.writer(fh).writerows([r[:dx] + r[dx + 1 :] for r in rows])
    return root / PHENOTYPIC, "DX_GROUP"


def _corrupt_file(root, text, replace):
    path = next(root.rglob("Pitt_0050003_rois_cc200.1D"))
    lines = path.read_text().splitlines()
    lines[3] = replace(lines[3])
    path.write_text("\n".join(lines) + "\n")
    return path, text


def _drop_last_roi(root):
    path = next(root.rglob("Pitt_0050003_rois_cc200.1D"))
    write_1d(path, np.loadtxt(path)[:, :-1])
    return path, "has 199 columns; expected 200 (one per ROI)"


@pytest.mark.parametrize(
    "break_it, error",
    [
        (lambda r: ((r / PHENOTYPIC).unlink(), (r, PHENOTYPIC))[1], FileNotFoundError),
        (_drop_column, ValueError),
        (_drop_last_roi, ValueError),
        (
            lambda r: _corrupt_file(
                r, "could not convert", lambda l: "abc\t" + l.split(None, 1)[1]
            ),
            ValueError,
        ),
        (
            lambda r: _corrupt_file(r, "NaN or infinite", lambda l: "nan\t" + l.split(None, 1)[1]),
            ValueError,
        ),
        (
            lambda r: _corrupt_file(r, "number of columns changed", lambda l: l + "\t1.0"),
            ValueError,
        ),
    ],
    ids=[
        "missing csv",
        "missing column",
        "wrong column count",
        "unreadable number",
        "nan",
        "ragged",
    ],
)
def test_errors_name_the_offending_file_and_what_was_expected(abide, break_it, error):
    root = abide[0]
    path, expected = break_it(root)
    with pytest.raises(error) as info:
        load_abide(root)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


def test_empty_folder_and_bad_diagnosis_are_clear_errors(tmp_path):
    write_phenotypic(tmp_path / PHENOTYPIC, [(50003, "PITT", "Pitt_0050003", 1)])
    with pytest.raises(
        FileNotFoundError, match=re.escape(f"*_rois_cc200.1D' in {str(tmp_path)!r}")
    ):
        load_abide(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_abide(tmp_path / "nowhere")

    write_1d(tmp_path / "Pitt_0050003_rois_cc200.1D", np.random.default_rng(0).random((5, 200)))
    write_phenotypic(tmp_path / PHENOTYPIC, [(50003, "PITT", "Pitt_0050003", 3)])
    with pytest.raises(
        ValueError, match=r"DX_GROUP of 'Pitt_0050003' is '3'; expected 1 \(ASD\) or 2"
    ):
        load_abide(tmp_path)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        np.int8,
        hnp.array_shapes(min_dims=2, max_dims=2, min_side=2, max_side=12),
        elements=st.integers(-20, 20),
    ),
    st.data(),
)
def test_correlations_are_numpys_corrcoef_with_constant_regions_zeroed(ts, data):
    # Small integers: a series is either exactly constant or varies by at least 1, so
    # numpy's corrcoef is a well-conditioned reference for every non-constant pair.
    ts = ts.astype(np.float64) + data.draw(st.floats(-1e3, 1e3))
    corr = correlation_matrices(ts[None])[0]

    varies = np.ptp(ts, axis=0) > 0  # exact, unlike a std with rounding in the mean
    assert np.isfinite(corr).all() and np.all(np.abs(corr) <= 1.0)
    np.testing.assert_array_equal(corr, corr.T)
    np.testing.assert_array_equal(np.diag(corr), 1.0)
    off = ~np.eye(len(varies), dtype=bool)
    assert np.all(corr[~varies][off[~varies]] == 0.0)
    if varies.sum() >= 2:
        expected = np.corrcoef(ts[:, varies].T)
        np.testing.assert_allclose(corr[np.ix_(varies, varies)], expected, atol=1e-6)


def test_simulated_cohort_round_trips_through_the_abide_file_layout(tmp_path):
    cohort = make_asd_cohort(7, 5, n_regions=24, n_sites=3, return_timeseries=True, random_state=3)
    root = write_abide_layout(cohort, tmp_path)

    loaded = load_abide(root, n_regions=24)

    np.testing.assert_allclose(loaded.data, cohort.data, atol=1e-5)  # 6 decimals on disk
    np.testing.assert_array_equal(loaded.target, cohort.target)
    np.testing.assert_array_equal(loaded.site, cohort.site)
    np.testing.assert_array_equal(loaded.subject, cohort.subject)
    np.testing.assert_array_equal(loaded.file_id, cohort.file_id)
    np.testing.assert_array_equal(loaded.feature_names, cohort.feature_names)


def test_write_abide_layout_takes_plain_time_series_of_any_length(tmp_path):
    rng = np.random.default_rng(0)
    series = [rng.standard_normal((n_t, 10)) for n_t in (30, 45, 60)]
    with pytest.raises(ValueError, match="target is required"):
        write_abide_layout(series, tmp_path)
    with pytest.raises(ValueError, match=r"1 \(ASD\) or 0 \(control\)"):
        write_abide_layout(series, tmp_path, target=["ASD", "control", "ASD"])
    with pytest.raises(ValueError, match="return_timeseries=True"):
        write_abide_layout(make_asd_cohort(2, 2, n_regions=8, random_state=0), tmp_path)

    loaded = load_abide(write_abide_layout(series, tmp_path, target=[1, 0, 1]), n_regions=10)

    assert list(loaded.target) == [1, 0, 1]
    assert list(loaded.n_timepoints) == [30, 45, 60]
    np.testing.assert_allclose(loaded.data[2], np.corrcoef(series[2].T), atol=1e-5)


# ---------------------------------------------------------------- simulated cohort


def test_default_cohort_has_the_papers_shape():
    cohort = make_asd_cohort(random_state=0)

    assert cohort.data.shape == (1034, 200, 200) and cohort.data.dtype == np.float32
    assert np.bincount(cohort.target).tolist() == [531, 503]
    assert 0 < cohort.target[:100].sum() < 100  # shuffled, not sorted by group
    assert len(set(cohort.site)) == 20 and len(set(cohort.subject)) == 1034
    assert cohort.feature_names.shape == (200,)
    np.testing.assert_array_equal(cohort.data[5], cohort.data[5].T)
    np.testing.assert_array_equal(np.diagonal(cohort.data, axis1=1, axis2=2), 1.0)
    assert "SIMULATED" in cohort.DESCR


def test_cohort_is_reproducible_with_random_state():
    a = make_asd_cohort(30, 20, n_regions=16, random_state=7, return_timeseries=True)
    b = make_asd_cohort(30, 20, n_regions=16, random_state=7, return_timeseries=True)
    c = make_asd_cohort(30, 20, n_regions=16, random_state=8)

    for field in ("data", "timeseries", "target", "site", "subject"):
        np.testing.assert_array_equal(a[field], b[field])
    assert not np.array_equal(a.data, c.data)
    np.testing.assert_allclose(correlation_matrices(a.timeseries), a.data, atol=1e-6)


def _cv_accuracy(difficulty, seed=0):
    # Reduced cohort (48 regions, 400 subjects, 5 folds) to keep the test fast; on the
    # full cohort with 10 folds the default difficulty gives about 0.71.
    X, y = make_asd_cohort(
        200, 200, n_regions=48, difficulty=difficulty, random_state=seed, return_X_y=True
    )
    upper = np.triu_indices(48, k=1)
    features = X[:, upper[0], upper[1]]
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    return cross_val_score(LogisticRegression(max_iter=1000), features, y, cv=cv).mean()


@pytest.mark.parametrize(
    "difficulty, low, high",
    # Measured on seeds 0-3: 0.94-0.97, 0.63-0.67, 0.48-0.53.
    [(0.25, 0.9, 1.0), (1.0, 0.58, 0.78), (4.0, 0.0, 0.62)],
    ids=["easy", "default", "hard"],
)
def test_difficulty_moves_logistic_regression_accuracy(difficulty, low, high):
    assert low < _cv_accuracy(difficulty) < high


def test_altered_edges_and_only_they_differ_between_groups():
    cohort = make_asd_cohort(150, 150, n_regions=48, random_state=2)
    i, j = cohort.altered_edges.T
    assert np.all(i < j)
    # Every pair across salience, frontoparietal and default_mode: 3 * 6 * 6.
    assert len(cohort.altered_edges) == 108
    names = np.array(cohort.community_names)[cohort.community]
    assert {frozenset(p) for p in zip(names[i], names[j])} == {
        frozenset(p) for p in cohort.altered_communities
    }

    unaltered = np.triu(np.ones((48, 48), dtype=bool), k=1)
    unaltered[i, j] = False
    # Site global signals shift all of a subject's correlations together; measuring each
    # edge against the subject's mean unaltered edge takes that common shift out.
    common = cohort.data[:, unaltered].mean(axis=1, keepdims=True)
    asd = cohort.target == 1

    def welch_t(values):  # control minus ASD, per column
        a, c = values[asd], values[~asd]
        return (c.mean(axis=0) - a.mean(axis=0)) / np.sqrt(
            a.var(axis=0) / len(a) + c.var(axis=0) / len(c)
        )

    altered = cohort.data[:, i, j] - common
    assert welch_t(altered.mean(axis=1)) > 5  # weaker in ASD (measured 7.3 to 8.8 on seeds 0-5)
    t_unaltered = welch_t(cohort.data[:, unaltered] - common)
    assert np.mean(np.abs(t_unaltered) > 3) < 0.03  # as by chance (measured <= 1%)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"n_regions": 5}, "n_regions must be an int >= 8"),
        ({"difficulty": 0}, "difficulty must be a positive"),
        ({"n_asd": -1}, "n_asd must be an int >= 0"),
        ({"n_timepoints": 2.5}, "n_timepoints must be an int"),
    ],
)
def test_cohort_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_asd_cohort(**kwargs)


# ---------------------------------------------------------------- image loaders


MELANOMA_CSV = "ISIC2018_Task3_Training_GroundTruth.csv"
COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 40)]


def write_jpeg(path, colour, size=(40, 30)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format="JPEG", quality=95)


@pytest.fixture
def melanoma(tmp_path):
    """Six lesion images (600x450 shrunk to 40x30), classes MEL x3, NV x2, DF x1."""
    classes = ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    labels = ["MEL", "NV", "MEL", "DF", "MEL", "NV"]
    with open(tmp_path / MELANOMA_CSV, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", *classes])
        for k, label in enumerate(labels):
            image = f"ISIC_{24306 + k:07d}"
            writer.writerow([image, *("1.0" if c == label else "0.0" for c in classes)])
            write_jpeg(tmp_path / "ISIC2018_Task3_Training_Input" / f"{image}.jpg", COLOURS[k % 4])
    return tmp_path, [classes.index(label) for label in labels]


def test_load_melanoma_resizes_to_float_rgb_and_reads_one_hot_labels(melanoma):
    root, target = melanoma
    bunch = load_melanoma(root, size=8)

    assert bunch.data.shape == (6, 8, 8, 3) and bunch.data.dtype == np.float32
    assert bunch.data.min() >= 0.0 and bunch.data.max() <= 1.0
    assert list(bunch.target) == target
    assert list(bunch.target_names) == ["MEL", "NV", "BCC", "AKIEC", "BKL", "DF", "VASC"]
    assert list(bunch.image) == [f"ISIC_{24306 + k:07d}" for k in range(6)]
    for k, image in enumerate(bunch.data):  # a flat colour survives JPEG and resizing
        np.testing.assert_allclose(
            image.mean(axis=(0, 1)), np.array(COLOURS[k % 4]) / 255, atol=0.03
        )
    assert load_melanoma(root).data.shape == (6, 64, 64, 3)  # the paper's size by default


def test_load_melanoma_resample_balances_classes_reproducibly(melanoma):
    root, _ = melanoma
    a = load_melanoma(root, size=4, resample=True, random_state=0)
    b = load_melanoma(root, size=4, resample=True, random_state=0)

    assert np.bincount(a.target).tolist() == [3, 3, 0, 0, 0, 3]
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(a.image[:6], load_melanoma(root, size=4).image)
    copies = {name: k for k, name in enumerate(a.image[:6])}
    for name, label in zip(a.image[6:], a.target[6:]):
        assert a.target[copies[name]] == label


def test_melanoma_errors_name_the_file(melanoma):
    root, _ = melanoma
    csv_path = root / MELANOMA_CSV
    text = csv_path.read_text().replace("ISIC_0024307,0.0,1.0", "ISIC_0024307,1.0,1.0")
    csv_path.write_text(text)
    with pytest.raises(
        ValueError, match=re.escape(f"{str(csv_path)!r}: the row of 'ISIC_0024307'")
    ):
        load_melanoma(root)

    csv_path.unlink()
    with pytest.raises(FileNotFoundError, match=MELANOMA_CSV):
        load_melanoma(root)


def test_unreadable_image_and_missing_image(melanoma):
    root, _ = melanoma
    broken = next(root.rglob("ISIC_0024308.jpg"))
    broken.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=re.escape(f"Cannot read {str(broken)!r} as an image")):
        load_melanoma(root)

    broken.unlink()
    with pytest.warns(UserWarning, match="1 of the 6 samples"):
        assert len(load_melanoma(root, size=4).target) == 5
    with pytest.raises(FileNotFoundError, match="ISIC_0024308"):
        load_melanoma(root, strict=True)


@pytest.fixture
def retinopathy(tmp_path):
    levels = {"10_left": 0, "10_right": 0, "13_left": 2, "13_right": 4, "15_left": 1}
    with open(tmp_path / "trainLabels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "level"])
        for k, (image, level) in enumerate(levels.items()):
            writer.writerow([image, level])
            write_jpeg(tmp_path / "train" / f"{image}.jpeg", COLOURS[k % 4], size=(90, 60))
    return tmp_path, levels


def test_load_retinopathy_reads_grades_and_subsamples(retinopathy):
    root, levels = retinopathy
    bunch = load_retinopathy(root, size=(12, 16))

    assert bunch.data.shape == (5, 12, 16, 3) and bunch.data.dtype == np.float32
    assert list(bunch.image) == list(levels) and list(bunch.target) == list(levels.values())
    assert bunch.target_names[4] == "Proliferative DR"

    a = load_retinopathy(root, size=8, n_samples=3, random_state=1)
    b = load_retinopathy(root, size=8, n_samples=3, random_state=1)
    assert len(a.image) == 3 and set(a.image) <= set(levels)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.target, [levels[name] for name in a.image])


def test_retinopathy_level_out_of_range_names_the_csv(retinopathy):
    root, _ = retinopathy
    csv_path = root / "trainLabels.csv"
    csv_path.write_text(csv_path.read_text().replace("13_right,4", "13_right,7"))
    with pytest.raises(
        ValueError, match=re.escape(f"{str(csv_path)!r}: the level of '13_right' is '7'")
    ):
        load_retinopathy(root)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=40), st.integers(0, 2**31 - 1))
def test_balance_classes_tops_every_class_up_to_the_majority(labels, seed):
    y = np.array(labels)
    X = np.arange(len(y))[:, None, None] * np.ones((1, 2, 3))  # any trailing shape

    Xb, yb = balance_classes(X, y, random_state=seed)

    counts = np.bincount(yb)
    assert set(counts[counts > 0]) == {np.bincount(y).max()}
    np.testing.assert_array_equal(Xb[: len(y)], X)  # originals first, in order
    source = Xb[:, 0, 0].astype(int)
    np.testing.assert_array_equal(y[source], yb)  # every copy keeps its own class
    np.testing.assert_array_equal(balance_classes(X, y, random_state=seed)[0], Xb)
