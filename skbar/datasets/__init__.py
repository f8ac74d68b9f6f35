"""Loaders for the paper's three medical tasks, and a simulated ASD cohort.

- :func:`load_abide`: autism (ASD) vs control from ABIDE Preprocessed CC200 time series.
- :func:`load_retinopathy`: diabetic retinopathy grade (Kaggle, 5 classes).
- :func:`load_melanoma`: skin lesion type (ISIC 2018 task 3 / HAM10000, 7 classes).
- :func:`make_asd_cohort`: a SIMULATED cohort shaped like ABIDE, for tests and examples,
  and :func:`write_abide_layout` to write it in ABIDE's on-disk format.

The loaders read the files as each data set ships them; none downloads anything.
"""

from ._abide import load_abide
from ._base import balance_classes
from ._melanoma import load_melanoma
from ._retinopathy import load_retinopathy
from ._simulated_asd import make_asd_cohort, write_abide_layout

__all__ = [
    "balance_classes",
    "load_abide",
    "load_melanoma",
    "load_retinopathy",
    "make_asd_cohort",
    "write_abide_layout",
]
