"""GridSearchCV over BAR's q (random directions) and m (source labels per class).

The paper's study of q and m (Tsai et al., 2020, section 4.3) on the ASD task: each grid
point is scored by stratified CV inside ``GridSearchCV`` over the pipeline
``correlation_to_pixels -> BlackBoxReprogrammingClassifier``, and the table gives its mean
accuracy against the queries its fits spent (read from each fitted estimator's
``n_queries_`` by a scorer). Every point takes the same number of steps, so a larger q
costs more queries. Without ``--abide-root`` the data are SIMULATED
(``make_asd_cohort``).

    nice -n 10 python examples/grid_search_q_m.py --q-grid 2,5 --m-grid 1,3 --steps 10
    python examples/grid_search_q_m.py --model toy --n-asd 60 --n-control 60  # seconds
"""

import sys
import time

from sklearn.model_selection import StratifiedKFold

# The helpers shared by the example scripts, in this folder (not part of skbar).
from _asd_experiments import (
    bar_params,
    best_grid_point,
    describe_run,
    experiment_parser,
    grid_search_q_m,
    grid_table,
    load_task,
    make_bar_pipeline,
    make_oracle,
    parallel_backend,
)


def _ints(text):
    return tuple(int(v) for v in text.split(","))


def main(argv=None):
    parser = experiment_parser(__doc__.splitlines()[0])
    parser.set_defaults(folds=3, max_queries=None)
    parser.add_argument("--q-grid", type=_ints, default=(2, 5, 10))
    parser.add_argument("--m-grid", type=_ints, default=(1, 3, 5))
    parser.add_argument("--steps", type=int, default=10,
                        help="optimisation steps of every fit (max_iter)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    task = load_task(args)
    oracle = make_oracle(args)
    pipeline = make_bar_pipeline(oracle, **bar_params(args, max_iter=args.steps))
    print(describe_run(args, task, started), flush=True)
    print(f"grid: q in {args.q_grid}, m in {args.m_grid}; {args.steps} steps of "
          f"{args.batch_size} samples per fit", flush=True)
    with parallel_backend(args):
        _, rows = grid_search_q_m(
            pipeline, task.data, task.target, q=args.q_grid, m=args.m_grid,
            cv=StratifiedKFold(args.folds, shuffle=True, random_state=args.seed),
            n_jobs=args.n_jobs)
    print()
    print(grid_table(rows))
    best = best_grid_point(rows)
    print(f"\nbest: q={best['q']}, m={best['m']}: accuracy {best['accuracy_mean']:.3f} ± "
          f"{best['accuracy_std']:.3f} with {best['queries_mean']:,.0f} queries per fit. "
          f"Total wall time {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
