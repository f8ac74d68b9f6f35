"""How much several views of each sample tell on top five answers, with no search.

The oracle is the benchmark's ``digits-top5`` (EfficientNet-Lite0 at 96 px answering its
five best classes, digits at 64 px). For each number of views, skbar's defaults with
``max_iter=0`` and ``head=LinearHead(views=k)``: each training sample is sent
under the grey frame and ``k - 1`` fixed random programs
(:meth:`skbar.canvas.Program.view_programs`), and the head reads the ``k`` answers side
by side. Prints the test accuracy, the queries the fit paid for and what a prediction
costs, one line per seed and number of views, then the mean over seeds.

    python experiments/top_k_views.py --seeds 0,1,2 --views 1,2,4,8
"""

import argparse
import time

import numpy as np
from _benchmark import load_task

from skbar import BlackBoxReprogrammingClassifier, zoo
from skbar.oracles import TopKOracle
from skbar.heads import LinearHead


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--views", default="1,2,4,8")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    views = [int(v) for v in args.views.split(",")]
    oracle = TopKOracle(zoo.load("efficientnet-lite0", image_size=96, n_threads=args.threads), 5)
    accuracy = {k: [] for k in views}
    for seed in seeds:
        X, y, X_test, y_test, embed = load_task("digits-top5", seed)
        for k in views:
            started = time.perf_counter()
            clf = BlackBoxReprogrammingClassifier(
                oracle, embed_size=64, max_iter=0, head=LinearHead(views=k),
                random_state=seed, **embed).fit(X, y)
            accuracy[k].append(clf.score(X_test, y_test))
            print(f"seed {seed}, {k} view(s): test accuracy {accuracy[k][-1]:.3f}, "
                  f"{clf.n_queries_:,d} queries in fit, {clf.n_views_} per prediction "
                  f"({time.perf_counter() - started:.0f} s)", flush=True)
    print(f"\nmean over seeds {args.seeds}:")
    for k in views:
        print(f"  {k} view(s): {np.mean(accuracy[k]):.3f} +- {np.std(accuracy[k]):.3f}")


if __name__ == "__main__":
    main()
