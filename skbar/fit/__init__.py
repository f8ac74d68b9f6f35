"""How a fit runs: start (the first pass), search, finish (the final pass and the check).

- :func:`first_pass`, :func:`start_head`: the first paid pass, the label maps, the head
  and the objective (:mod:`._start`);
- :func:`run_search`: the steps of ask, pay, tell, returning a :class:`SearchResult`;
- :func:`finish`: the final pass, the choice of program (:mod:`._select`), the last refit;
- :class:`AnswerCache`: every answer the fit keeps;
- checkpoints: a fit's state as a plain ``.npz`` (:mod:`._checkpoint`).
"""

from ._cache import MAX_REFIT_SAMPLES, AnswerCache, StartOutputs
from ._checkpoint import (CheckpointError, check_checkpoint, check_resume, data_fingerprint,
                          load_checkpoint, save_checkpoint)
from ._finish import Finished, finish, remember_start, reserve_for_final_pass
from ._search import SearchResult, SearchSetup, refit_on_cache, run_search, stop_reasons
from ._select import SELECT, compare_with_start, holdout_correct, searched_is_better
from ._start import PASS_ROWS, Started, answer_chunks, first_pass, start_head
from ._surrogate import Surrogate

__all__ = ["AnswerCache", "CheckpointError", "Finished", "MAX_REFIT_SAMPLES", "PASS_ROWS",
           "SELECT", "SearchResult", "SearchSetup", "StartOutputs", "Started", "Surrogate", "answer_chunks",
           "check_checkpoint", "check_resume", "compare_with_start", "data_fingerprint",
           "finish", "first_pass", "holdout_correct", "load_checkpoint", "refit_on_cache",
           "remember_start", "reserve_for_final_pass", "run_search", "save_checkpoint",
           "searched_is_better", "start_head", "stop_reasons"]
