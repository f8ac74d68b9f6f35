"""The tasks and oracles of ``benchmarks/query_efficiency.py``, for the scripts beside this file.

The experiments run on the benchmark's tasks (the same splits, models and embeddings), so
that their figures sit beside the benchmark's tables. Run them from the repository root,
``python experiments/<script>.py``: this folder is then on ``sys.path`` and this module
puts ``benchmarks/`` there too.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

from query_efficiency import load_task, task_oracle  # noqa: E402

__all__ = ["load_task", "task_oracle"]
