"""Experiment: the paid search started from a surrogate's program (skbar.fit.Surrogate).

For each seed of a real task (benchmarks/real_tasks.py's splits), the defaults' own probe,
the defaults, and the defaults with ``surrogate=Surrogate(MODEL, max_queries=FREE)``, at
each budget. The surrogate's search runs once per seed and is shared by the budgets.
Prints one JSON line per row, and appends it to ``--out``.

Usage::

    python experiments/surrogate_start.py --task animal-mnist --seeds 0,1,2 \
        --budgets 3000,10000 --free 20000 --out experiments/results/surrogate.jsonl
"""

import argparse
import importlib.util
import json
import sys
import time
import warnings
from pathlib import Path

from skbar import BlackBoxReprogrammingClassifier
from skbar.fit import Surrogate

ROOT = Path(__file__).resolve().parents[1]


def _tasks():
    sys.path.insert(0, str(ROOT / "benchmarks"))  # real_tasks reads query_efficiency
    spec = importlib.util.spec_from_file_location("real_tasks", ROOT / "benchmarks" / "real_tasks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def task_splits(spec, seeds, threads, model=None):
    """``(label, oracle, seed, (X_train, y_train, X_test, y_test))`` for each of the
    comma-separated ``seeds`` of the real task ``spec`` (benchmarks/real_tasks.py), on
    the task's model or on ``model`` from the zoo."""
    from skbar import zoo

    tasks = _tasks()
    label, task = tasks.parse_task(spec)
    oracle = (tasks.load_model(task.canvas, threads) if model is None else
              zoo.load(model, image_size=task.canvas, n_threads=threads))
    warnings.simplefilter("ignore")
    for seed in (int(s) for s in seeds.split(",")):
        yield label, oracle, seed, tasks.split(task, seed)


def emit(row, out):
    """Print ``row`` as a JSON line, and append it to the file ``out`` where given."""
    print(json.dumps(row), flush=True)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")


class SharedSurrogate(Surrogate):
    """A surrogate whose search runs once per training set, shared by several fits."""

    def __init__(self, model, max_queries, gradients="zeroth-order", max_iter=100):
        super().__init__(model, max_queries, gradients, max_iter)
        self._done = {}

    def search(self, estimator, X, y, canvas_shape):
        key = (id(X), len(X))
        if key not in self._done:
            self._done[key] = super().search(estimator, X, y, canvas_shape)
        return self._done[key]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="animal-mnist")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budgets", default="3000,10000")
    parser.add_argument("--free", type=int, default=20000)
    parser.add_argument("--model", default="efficientnet-lite1")
    parser.add_argument("--gradients", default="zeroth-order", choices=["zeroth-order", "true"])
    parser.add_argument("--steps", type=int, default=100, help="steps with true gradients")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--skip-defaults", action="store_true",
                        help="only the probe and the surrogate's fits")
    args = parser.parse_args()
    for label, oracle, seed, split in task_splits(args.task, args.seeds, args.threads):
        X_train, y_train, X_test, y_test = split
        surrogate = SharedSurrogate(args.model, args.free, args.gradients, args.steps)
        rows = []
        started = time.time()
        probe = BlackBoxReprogrammingClassifier(oracle, max_iter=0, random_state=seed)
        rows.append(("probe", 0, probe.fit(X_train, y_train), None))
        for budget in (int(b) for b in args.budgets.split(",")):
            methods = (("defaults", {}), ("surrogate", {"surrogate": surrogate}))
            for name, extra in methods[args.skip_defaults:]:
                clf = BlackBoxReprogrammingClassifier(oracle, max_iter=10**9,
                                                      max_queries=budget, random_state=seed,
                                                      **extra)
                rows.append((name, budget, clf.fit(X_train, y_train), None))
        for name, budget, clf, _ in rows:
            if name == "surrogate" and args.gradients == "true":
                name = "surrogate-true-gradients"
            row = {"task": label, "seed": seed, "method": name, "budget": budget,
                   "free": args.free if name == "surrogate" else 0, "model": args.model,
                   "accuracy": round(float(clf.score(X_test, y_test)), 4),
                   "queries": int(clf.n_queries_), "n_iter": int(clf.n_iter_),
                   "kept": (clf.search_check_ or {}).get("kept"),
                   "check": clf.search_check_, "seconds": round(time.time() - started, 1)}
            emit(row, args.out)

if __name__ == "__main__":
    main()
