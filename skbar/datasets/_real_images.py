"""Real out-of-domain images that ship inside PyPI packages: elpv and Animal-MNIST.

Both are read from the installed package's own files at run time; nothing is downloaded
and nothing is copied into skbar (elpv's images are licensed CC-BY-NC-SA 4.0). Install
them with

- ``pip install elpv-dataset`` (or ``pip install 'skbar[bench]'``);
- ``pip install --no-deps animal-mnist``: the package declares tensorflow as a
  dependency and imports it, so it is installed without its dependencies and its data
  files are read here without importing it.
"""

import gzip
import importlib.util
import pickle
from pathlib import Path

import numpy as np

#: The defect probability from which an elpv cell is labelled defective.
ELPV_DEFECTIVE_FROM = 0.5
#: Labels of :func:`load_elpv`.
FUNCTIONAL, DEFECTIVE = 0, 1
_ANIMAL_FILES = ("animal_data_version_3.gz", "animal_label_version_3.gz")


def _package_dir(module, pip_command):
    """The folder of the installed package ``module``, found without importing it.

    Importing ``animal_mnist`` would import tensorflow, so the package is located
    through its import spec only.
    """
    try:
        spec = importlib.util.find_spec(module)
    except ValueError:  # a module object without a spec, left in sys.modules
        spec = None
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"The {module!r} package is not installed: {pip_command}")
    return Path(list(spec.submodule_search_locations)[0])


def load_elpv():
    """Electroluminescence images of solar cells, defective against functional.

    2,624 grey 300x300 images of solar cells cut from 44 photovoltaic modules (Buerhop-Lutz
    et al. 2018; Deitsch et al. 2019), each annotated with the probability, 0, 1/3, 2/3
    or 1, that the cell is defective. A cell is labelled defective where that probability
    is at least 0.5. Read from the ``elpv-dataset`` package
    (``data/labels.csv`` and ``data/images/``); its images are licensed CC-BY-NC-SA 4.0.

    Returns
    -------
    X : ndarray of shape (n_samples, 300, 300), uint8
        The images, in the order of ``labels.csv``.
    y : ndarray of shape (n_samples,), int
        1 (defective) or 0 (functional).

    Raises
    ------
    ImportError
        If ``elpv-dataset`` is not installed; the message gives the pip command.
    ValueError
        If ``labels.csv`` has a row that is not ``path probability type``, a probability
        outside ``[0, 1]``, or names an image that is missing or not 2-D grey.

    See Also
    --------
    load_animal_mnist : Animal silhouettes, 10 classes.

    References
    ----------
    Buerhop-Lutz et al. (2018), A benchmark for visual identification of defective solar
    cells in electroluminescence imagery, EU PVSEC. Deitsch et al. (2019), Automatic
    classification of defective photovoltaic module cells in electroluminescence images,
    Solar Energy 185, 455-468.
    """
    from PIL import Image

    data = _package_dir(
        "elpv_dataset", "pip install elpv-dataset (or pip install 'skbar[bench]')") / "data"
    labels = data / "labels.csv"
    paths, probabilities = [], []
    with open(labels) as f:
        for number, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            try:
                path, probability, _module_type = fields
                probability = float(probability)
            except ValueError:
                raise ValueError(f"{labels}, line {number}: expected 'path probability "
                                 f"type', got {line.strip()!r}.") from None
            if not 0.0 <= probability <= 1.0:
                raise ValueError(f"{labels}, line {number}: the defect probability "
                                 f"{probability} is outside [0, 1].")
            paths.append(data / path)
            probabilities.append(probability)
    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                pixels = np.asarray(image.convert("L") if image.mode != "L" else image)
        except OSError as err:
            raise ValueError(f"Cannot read the elpv image {str(path)!r}: {err}") from err
        if images and pixels.shape != images[0].shape:
            raise ValueError(f"The elpv image {str(path)!r} is {pixels.shape}, "
                             f"the first one {images[0].shape}.")
        images.append(pixels)
    y = np.where(np.asarray(probabilities) >= ELPV_DEFECTIVE_FROM, DEFECTIVE, FUNCTIONAL)
    return np.stack(images).astype(np.uint8), y


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles plain numpy arrays and nothing else.

    A pickle runs whatever callables it names; Animal-MNIST's files need only the three
    that rebuild an ``ndarray``, so any other name is refused.
    """

    _ALLOWED = {("numpy.core.multiarray", "_reconstruct"),
                ("numpy._core.multiarray", "_reconstruct"),
                ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(
                f"Refusing to load {module}.{name}: the file should hold a plain numpy array.")
        return super().find_class(module, name)


def _read_array(path):
    with gzip.open(path, "rb") as f:
        array = _ArrayUnpickler(f).load()
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{str(path)!r} holds a {type(array).__name__}, not a numpy array.")
    return array


def load_animal_mnist():
    """Animal silhouettes in MNIST's format: 10 classes of grey 28x28 images.

    10,000 images, 1,000 of each class (bear, bird, cat, cow, dog, elephant, giraffe,
    horse, sheep and zebra, in the package's description; it does not say which label is
    which). Read from the ``animal-mnist`` package's gzipped pickles
    (``animal_mnist/data/Animal_MNIST/``) without importing the package, which imports
    tensorflow; only plain numpy arrays are unpickled.

    Returns
    -------
    X : ndarray of shape (10000, 28, 28), uint8
    y : ndarray of shape (10000,), int
        The class, 0 to 9.

    Raises
    ------
    ImportError
        If ``animal-mnist`` is not installed; the message gives the pip command.
    FileNotFoundError
        If the package's data files are missing.
    pickle.UnpicklingError
        If a data file names anything other than a numpy array.
    ValueError
        If the images are not ``(n, 28, 28)`` or there is not one label per image.

    See Also
    --------
    load_elpv : Solar cells, defective against functional.
    """
    folder = _package_dir("animal_mnist", "pip install --no-deps animal-mnist")
    folder = folder / "data" / "Animal_MNIST"
    X, y = (_read_array(folder / name) for name in _ANIMAL_FILES)
    if X.ndim != 3 or X.shape[1:] != (28, 28) or y.shape != (len(X),):
        raise ValueError(f"Animal-MNIST's files hold images {X.shape} and labels {y.shape}; "
                         "expected (n, 28, 28) and (n,).")
    return X.astype(np.uint8, copy=False), y.astype(int, copy=False)
