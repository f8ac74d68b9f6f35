"""GridSearchCV over q and m under skbar's defaults: what each grid point learns.

The user's own use of the estimator: ``GridSearchCV(clf, {"q": [...], "m": [...]})``.
For each grid point the table gives the cross-validated accuracy, the queries a fit
spent, how often the fit kept its searched program (``search_check_``), and how far its
program is from that of the first grid point (so that "different m, different program"
is a number, not a claim).

    python benchmarks/grid_q_m.py --task digits-top5 --q 2,5 --m 1,3,10 --budget 10000
"""

import argparse
import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import GridSearchCV, StratifiedKFold

from skbar import BlackBoxReprogrammingClassifier, zoo


def _query_efficiency():
    """The task loaders of the query-efficiency benchmark, beside this file."""
    path = Path(__file__).with_name("query_efficiency.py")
    spec = importlib.util.spec_from_file_location("query_efficiency", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _ints(text):
    return [int(v) for v in text.split(",")]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="digits-top5",
                        help="a task of benchmarks/query_efficiency.py")
    parser.add_argument("--q", type=_ints, default=[2, 5], help="q values of the grid")
    parser.add_argument("--m", type=_ints, default=[1, 3, 10], help="m values of the grid")
    parser.add_argument("--budget", type=int, default=10000, help="max_queries of every fit")
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--embed-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    benchmark = _query_efficiency()
    oracle = benchmark.task_oracle(args.task, zoo.load(image_size=args.image_size))
    X, y, _, _, embed = benchmark.load_task(args.task, args.seed)
    embed = dict({"embed_size": args.embed_size}, **embed)
    clf = BlackBoxReprogrammingClassifier(oracle, max_iter=10**9, max_queries=args.budget,
                                          random_state=args.seed, **embed)

    def kept_searched(estimator, X, y):
        return float(estimator.search_check_["kept"] == "searched")

    def queries(estimator, X, y):
        return estimator.n_queries_

    search = GridSearchCV(
        clf, {"q": args.q, "m": args.m},
        cv=StratifiedKFold(args.folds, shuffle=True, random_state=args.seed),
        scoring={"accuracy": "accuracy", "kept": kept_searched, "queries": queries},
        refit=False).fit(X, y)
    results = search.cv_results_
    # The program of each grid point, fitted on the whole training half.
    programs = [clf.set_params(**params).fit(X, y).optimizer_.w_
                for params in results["params"]]
    print(f"{args.task}: {len(X)} training samples, {args.folds}-fold CV, "
          f"max_queries={args.budget:,d} per fit\n")
    print("| q | m | CV accuracy | queries per fit | searched program kept | "
          "program distance to the first point |")
    print("|---:|---:|---:|---:|---:|---:|")
    for i, params in enumerate(results["params"]):
        distance = np.linalg.norm(programs[i] - programs[0]) / np.linalg.norm(programs[0])
        print(f"| {params['q']} | {params['m']} | {results['mean_test_accuracy'][i]:.3f} ± "
              f"{results['std_test_accuracy'][i]:.3f} | "
              f"{results['mean_test_queries'][i]:,.0f} | "
              f"{results['mean_test_kept'][i] * args.folds:.0f} of {args.folds} folds | "
              f"{distance:.2f} |")
    print(f"\n{time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
