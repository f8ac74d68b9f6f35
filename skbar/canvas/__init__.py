"""The canvas: target samples prepared for it, the program that frames them, and views.

- :class:`Samples`: ``X`` as the user gave it, prepared a batch at a time;
- :class:`Program`: where the sample sits, the mask ``M``, and ``P = tanh(W ⊙ M)``;
- :class:`Views`: the frames each sample is sent under and the layout of their answers.
"""

from ._program import Program, bilinear_matrix, match_channels, resize_images, to_images
from ._samples import Samples, data_range, iter_chunks
from ._views import AUTO_VIEWS_TOP_K, Views, check_views, first_views, resolve_n_views

__all__ = ["AUTO_VIEWS_TOP_K", "Program", "Samples", "Views", "bilinear_matrix", "check_views", "data_range", "first_views",
           "iter_chunks", "match_channels", "resize_images", "resolve_n_views", "to_images"]
