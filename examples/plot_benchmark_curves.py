"""
=======================================
Accuracy against queries: the benchmark
=======================================

Every query of a paid prediction API costs money, so the figure of merit of black-box
reprogramming is the accuracy reached for the queries spent.
``benchmarks/query_efficiency.py`` records it for each method and seed in a JSON-lines
file; :meth:`skbar.plotting.QueryCurveDisplay.from_results` draws one task of it: each
method's mean over seeds with a band from its worst to its best seed, and the baselines
that spend a fixed number of queries (the linear probes on the black-box outputs,
logistic regression on the pixels) as dashed lines.

The runs themselves take hours and are not repeated here: this example reads the
recorded file (see :doc:`/query_efficiency` for the command that made it).
"""

import pathlib

import matplotlib.pyplot as plt

import skbar
from skbar.plotting import QueryCurveDisplay

# The recorded results, beside the benchmark script in the source tree.
root = pathlib.Path(skbar.__file__).parents[1]
results = root / "benchmarks" / "results" / "query_efficiency.jsonl"

fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
methods = ["paper-bar", "spsa-gc", "zo-adam", "cma"]
for ax, task in zip(axes, ["digits", "asd"]):
    QueryCurveDisplay.from_results(results, task, methods=methods, ax=ax)
fig.tight_layout()
plt.show()
