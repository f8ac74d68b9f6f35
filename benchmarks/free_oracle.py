"""skbar's own work per query: a fit whose oracle costs nothing, so nothing but skbar runs.

The oracle returns stored answers (1,000 classes) whatever it is sent. The task is the
digits (898 training images, 8x8) embedded at three quarters of a square canvas, fitted
with the defaults to ``--queries`` queries. What a query costs is then the estimator's
own: composing canvases, the program's frame, the head's refits, the loss, the optimiser.

Each fit runs in a process of its own. With ``--against``, the same fits also run on
another checkout of skbar (its ``skbar`` package on ``PYTHONPATH``), alternating with
this one so that both see the same load, and the ratio of their medians is printed.

Usage::

    python benchmarks/free_oracle.py [--sizes 128 224] [--repeats 3] [--against ../main]
    python benchmarks/free_oracle.py --sizes 128 --profile     # where the time goes
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def one_fit(size, queries, profile):
    """Fit once on the free oracle; print ``{"seconds", "queries", "steps"}`` as JSON."""
    import warnings

    import numpy as np
    from sklearn.datasets import load_digits

    from skbar import BlackBoxReprogrammingClassifier
    from skbar.oracles import FunctionOracle

    warnings.simplefilter("ignore")
    X, y = load_digits(return_X_y=True)
    X, y = X[:898], y[:898]
    answer = np.random.RandomState(0).dirichlet(np.ones(1000), size=64).astype(np.float32)

    def free(canvases):
        return np.resize(answer, (len(canvases), 1000))

    clf = BlackBoxReprogrammingClassifier(
        FunctionOracle(free, (size, size, 3)), sample_shape=(8, 8),
        embed_size=int(0.75 * size), max_iter=10**9, max_queries=queries, random_state=0)
    start = time.perf_counter()
    if profile:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.runcall(clf.fit, X, y)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    else:
        clf.fit(X, y)
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "queries": int(clf.n_queries_),
                      "steps": int(clf.n_iter_)}))


def run_child(checkout, size, queries, profile=False):
    env = dict(os.environ, PYTHONPATH=checkout)
    command = [sys.executable, os.path.abspath(__file__), "--child", "--sizes", str(size),
               "--queries", str(queries)] + (["--profile"] if profile else [])
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, check=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 224])
    parser.add_argument("--queries", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--against", default=None,
                        help="another checkout of skbar, fitted alternately, for a ratio")
    parser.add_argument("--profile", action="store_true",
                        help="print a profile of one fit (this checkout) to stderr")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return one_fit(args.sizes[0], args.queries, args.profile)

    this = os.path.dirname(HERE)
    checkouts = {"this": this}
    if args.against:
        checkouts["against"] = os.path.abspath(args.against)
    print(f"# python {sys.version.split()[0]}, {os.cpu_count()} CPUs, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    for size in args.sizes:
        per_query = {name: [] for name in checkouts}
        for _ in range(args.repeats):
            for name, checkout in checkouts.items():
                result = run_child(checkout, size, args.queries)
                us = 1e6 * result["seconds"] / result["queries"]
                per_query[name].append(us)
                print(f"{size}px {name:8s} {us:8.0f} us/query  ({result['queries']} queries, "
                      f"{result['steps']} steps, {result['seconds']:.2f} s)",
                      flush=True)
        medians = {name: sorted(v)[len(v) // 2] for name, v in per_query.items()}
        line = f"{size}px median: this {medians['this']:.0f} us/query"
        if "against" in medians:
            line += (f", against {medians['against']:.0f} us/query, "
                     f"ratio {medians['against'] / medians['this']:.2f}x faster")
        print(line, flush=True)
    if args.profile:
        run_child(this, args.sizes[0], args.queries, profile=True)


if __name__ == "__main__":
    main()
