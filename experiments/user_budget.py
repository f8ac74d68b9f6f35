"""Experiment: settings of the search at a user's budget, read against the same seed's probe.

Fits the defaults, and the defaults with each ``--config`` (estimator parameters as a
JSON object; an optimiser or gradient given as ``{"optimizer": "SPSAGC",
"optimizer__learning_rate": 0.03}`` is built from :mod:`skbar.optim`), on a real task's
splits (benchmarks/real_tasks.py) and prints one JSON line per fit: test accuracy, the
probe's (``max_iter=0``) on the same split, and which program the check shipped.

Usage::

    python experiments/user_budget.py --task digits --budget 3000 \
        --config '{}' --config '{"batch_size": 16}' --out experiments/results/user_budget.jsonl
"""

import argparse
import json
import sys
import time

from surrogate_start import emit, task_splits  # the benchmark's tasks

from skbar import BlackBoxReprogrammingClassifier, heads, optim

#: The modules whose classes a config names, by the parameter they are given to.
PARTS = {"optimizer": optim, "gradient": optim, "head": heads}


def build(config):
    """Estimator parameters from ``config``: ``"optimizer": "SPSAGC"`` (or ``"gradient"``,
    ``"head": "LinearHead"``) is the class of :mod:`skbar.optim` (:mod:`skbar.heads`) of
    that name, set by the ``name__param`` keys."""
    params = {}
    for part, module in PARTS.items():
        name = config.get(part)
        if isinstance(name, str) and hasattr(module, name):
            settings = {k.split("__", 1)[1]: v for k, v in config.items()
                        if k.startswith(part + "__")}
            params[part] = getattr(module, name)(**settings)
    for key, value in config.items():
        if key not in params and not key.startswith(tuple(f"{p}__" for p in PARTS)):
            params[key] = value
    return params


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget", type=int, default=3000)
    parser.add_argument("--config", action="append", default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model", default=None,
                        help="a model of skbar.zoo instead of the task's EfficientNet-Lite0")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    configs = args.config or ["{}"]
    splits = task_splits(args.task, args.seeds, args.threads, args.model)
    for label, oracle, seed, split in splits:
        X_train, y_train, X_test, y_test = split
        probe = BlackBoxReprogrammingClassifier(oracle, max_iter=0, random_state=seed)
        probe_accuracy = float(probe.fit(X_train, y_train).score(X_test, y_test))
        for config in configs:
            started = time.time()
            clf = BlackBoxReprogrammingClassifier(oracle, max_iter=10**9,
                                                  max_queries=args.budget, random_state=seed,
                                                  **build(json.loads(config)))
            clf.fit(X_train, y_train)
            accuracy = float(clf.score(X_test, y_test))
            row = {"task": label, "model": args.model or "efficientnet-lite0", "seed": seed, "budget": args.budget, "config": config,
                   "accuracy": round(accuracy, 4), "probe": round(probe_accuracy, 4),
                   "gain": round(accuracy - probe_accuracy, 4),
                   "queries": int(clf.n_queries_), "n_iter": int(clf.n_iter_),
                   "q": clf.q_, "check": clf.search_check_,
                   "seconds": round(time.time() - started, 1)}
            emit(row, args.out)

if __name__ == "__main__":
    sys.exit(main())
