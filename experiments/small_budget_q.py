"""Experiment: the defaults at a user's small budget with fewer directions a step (``q``).

At 3,000 queries the two passes over the training set take a large part of the budget
and ``q=5`` leaves a handful of steps; ``q=2`` buys 2.5 times as many. Fits the defaults
with each ``q`` given on a real task's splits (benchmarks/real_tasks.py) and prints one
JSON line per fit, with which program the check shipped.

Usage::

    python experiments/small_budget_q.py --task digits --seeds 0,1,2 --budget 3000 --q 2
"""

import argparse
import json
import sys
import time
import warnings

from surrogate_start import ROOT, _tasks  # noqa: F401  (the benchmark's tasks)

from skbar import BlackBoxReprogrammingClassifier


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="digits")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget", type=int, default=3000)
    parser.add_argument("--q", default="2")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    tasks = _tasks()
    label, task = tasks.parse_task(args.task)
    oracle = tasks.load_model(task.canvas, None)
    warnings.simplefilter("ignore")
    for seed in (int(s) for s in args.seeds.split(",")):
        X_train, y_train, X_test, y_test = tasks.split(task, seed)
        for q in (int(v) for v in args.q.split(",")):
            started = time.time()
            clf = BlackBoxReprogrammingClassifier(oracle, q=q, max_iter=10**9,
                                                  max_queries=args.budget, random_state=seed)
            clf.fit(X_train, y_train)
            row = {"task": label, "seed": seed, "q": q, "budget": args.budget,
                   "accuracy": round(float(clf.score(X_test, y_test)), 4),
                   "queries": int(clf.n_queries_), "n_iter": int(clf.n_iter_),
                   "check": clf.search_check_, "seconds": round(time.time() - started, 1)}
            print(json.dumps(row), flush=True)
            if args.out:
                with open(args.out, "a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    sys.exit(main())
