"""Loaders for the paper's three medical tasks, a simulated ASD cohort, and image folders.

- :func:`load_abide`: autism (ASD) vs control from ABIDE Preprocessed CC200 time series.
- :func:`load_retinopathy`: diabetic retinopathy grade (Kaggle, 5 classes).
- :func:`load_melanoma`: skin lesion type (ISIC 2018 task 3 / HAM10000, 7 classes).
- :func:`make_asd_cohort`: a SIMULATED cohort shaped like ABIDE, for tests and examples,
  and :func:`write_abide_layout` to write it in ABIDE's on-disk format.
- :func:`load_elpv`: solar cells in electroluminescence images, defective or functional,
  and :func:`load_animal_mnist`: animal silhouettes, 10 classes; both read from their
  PyPI packages (the ``bench`` extra).
- :func:`load_image_folder`: your own images, one sub-folder per class (PNG or JPEG).
- :func:`load_asd_task`: the ASD task from either source (ABIDE when given a folder, the
  simulated cohort otherwise), with its labels :data:`ASD` and :data:`CONTROL`;
  :func:`correlation_to_pixels` and :func:`upper_triangle` turn its correlation matrices
  into pixels for a source model or into features for a model trained on the data alone.

The loaders read the files as each data set ships them; none downloads anything.
"""

from ._abide import load_abide
from ._asd_task import ASD, CONTROL, correlation_to_pixels, load_asd_task, upper_triangle
from ._base import ImageFiles, balance_classes
from ._image_folder import load_image_folder
from ._melanoma import load_melanoma
from ._real_images import load_animal_mnist, load_elpv
from ._retinopathy import load_retinopathy
from ._simulated_asd import make_asd_cohort, write_abide_layout

__all__ = [
    "ASD",
    "CONTROL",
    "ImageFiles",
    "balance_classes",
    "correlation_to_pixels",
    "load_abide",
    "load_animal_mnist",
    "load_asd_task",
    "load_elpv",
    "load_image_folder",
    "load_melanoma",
    "load_retinopathy",
    "make_asd_cohort",
    "upper_triangle",
    "write_abide_layout",
]
