"""Names renamed in skbar 0.2, kept for one release with a ``FutureWarning``."""

import warnings


class RenamedMixin:
    """The estimator's attributes and methods under their old names."""

    @property
    def output_mapping_(self):
        """Deprecated: ``head_``."""
        warnings.warn("output_mapping_ was renamed head_ in skbar 0.2.", FutureWarning)
        return self.head_

    @property
    def search_mapping_(self):
        """Deprecated: ``objective_.head``, the head the search's objective reads."""
        warnings.warn("search_mapping_ was replaced by objective_ in skbar 0.2 (its head: "
                      "objective_.head).", FutureWarning)
        return self.objective_.head

    def refit_output_mapping(self, X, y):
        """Deprecated: :meth:`refit_head`."""
        warnings.warn("refit_output_mapping was renamed refit_head in skbar 0.2.", FutureWarning)
        return self.refit_head(X, y)


