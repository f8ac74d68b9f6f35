"""Ablations of BAR on the ASD task: random vs frequency mapping, cross-entropy vs focal loss.

Tsai et al. (2020), section 4.3, report 3 to 5 points of accuracy for frequency over
random mapping and for focal loss over cross-entropy. The four combinations here run on
the same stratified folds, the same budget and the same seeds. Without ``--abide-root``
the data are SIMULATED (``make_asd_cohort``).

    nice -n 10 python examples/ablations.py --max-queries 1500
    python examples/ablations.py --model toy --n-asd 60 --n-control 60  # seconds

The frequency mapping spends one query per training sample out of the budget; the
random one spends them all on the search.
"""

import sys
import time

# The helpers shared by the example scripts, in this folder (not part of skbar).
from _asd_experiments import (
    bar_params,
    cross_validate_methods,
    describe_run,
    experiment_parser,
    load_task,
    make_bar_pipeline,
    make_oracle,
    parallel_backend,
    ten_fold,
)

VARIANTS = {
    ("frequency", "focal"): "frequency mapping, focal loss (BAR)",
    ("frequency", "ce"): "frequency mapping, cross-entropy",
    ("random", "focal"): "random mapping, focal loss",
    ("random", "ce"): "random mapping, cross-entropy",
}


def main(argv=None):
    parser = experiment_parser(__doc__.splitlines()[0])
    parser.set_defaults(max_queries=1500)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    task = load_task(args)
    oracle = make_oracle(args)
    methods = {name: make_bar_pipeline(oracle, **bar_params(args, label_map=mapping, loss=loss))
               for (mapping, loss), name in VARIANTS.items()}
    print(describe_run(args, task, started), flush=True)
    with parallel_backend(args):
        report = cross_validate_methods(methods, task.data, task.target,
                                        cv=ten_fold(args.seed, n_splits=args.folds),
                                        n_jobs=args.n_jobs, verbose=1)
    print()
    print(report.to_markdown())

    accuracy = {key: row["accuracy_mean"] for key, row in zip(VARIANTS, report.rows)}
    print("\ngains in mean accuracy, in points (the paper: +3 to +5 for each):")
    for loss in ("focal", "ce"):
        gain = 100 * (accuracy["frequency", loss] - accuracy["random", loss])
        print(f"  frequency - random mapping, {loss} loss: {gain:+.1f}")
    for mapping in ("frequency", "random"):
        gain = 100 * (accuracy[mapping, "focal"] - accuracy[mapping, "ce"])
        print(f"  focal - cross-entropy, {mapping} mapping: {gain:+.1f}")
    print(f"Total wall time {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
