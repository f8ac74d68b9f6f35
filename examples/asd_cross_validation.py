"""ASD vs control, 10-fold stratified CV: BAR and its baselines on the same folds.

The paper's Table 1 task (Tsai et al., 2020): one 200x200 correlation matrix per
subject, embedded in an ImageNet model's input. Without ``--abide-root`` it runs on the
SIMULATED cohort of ``skbar.datasets.make_asd_cohort``: the accuracies then say nothing
about autism.

    nice -n 10 python examples/asd_cross_validation.py --max-queries 2000 --ar-steps 20
    python examples/asd_cross_validation.py --model toy --n-asd 60 --n-control 60  # seconds

Rows (``--methods``; by default all but ``bar-iterative`` and ``finetune``): skbar's
defaults, BAR (frequency mapping, focal loss), BAR with the learned linear output
mapping, the linear probe on the black-box outputs, logistic regression and a small MLP
trained on the matrix alone, and, where torch and efficientnet-lite-pytorch import,
white-box adversarial reprogramming (AR, true gradients of the same model) and
fine-tuning. The table is printed once, when every row is done.
"""

import sys
import time

from skbar import BlackBoxReprogrammingClassifier
from skbar.baselines import FineTuningClassifier, WhiteBoxReprogrammingClassifier, torch_available

# The helpers shared by the example scripts, in this folder (not part of skbar).
from _asd_experiments import (
    bar_params,
    cross_validate_methods,
    describe_run,
    experiment_parser,
    load_task,
    make_bar_pipeline,
    make_linear_probe,
    make_logistic_baseline,
    make_mlp_baseline,
    make_oracle,
    parallel_backend,
    pixels_pipeline,
    ten_fold,
)

METHODS = ("bar", "bar-linear", "bar-iterative", "skbar", "probe", "logistic", "mlp", "ar",
           "finetune")


def build_methods(args, oracle):
    """The rows asked for with ``--methods``, by name."""
    wanted = args.methods.split(",")
    unknown = set(wanted) - set(METHODS)
    if unknown:
        sys.exit(f"unknown --methods {sorted(unknown)}; choose from {', '.join(METHODS)}")
    threads = 1 if args.n_jobs != 1 or args.scheduler else None
    embedding = {"embed_size": args.embed_size, "batch_size": args.batch_size}
    white_box = {"model": args.model, "image_size": args.image_size, "rescale": False,
                 "n_threads": threads, "random_state": args.seed}
    methods = {}
    for name in wanted:
        if name == "bar":
            methods["BAR (frequency mapping, focal loss)"] = make_bar_pipeline(
                oracle, **bar_params(args))
        elif name == "bar-linear":
            methods["BAR, learned linear output mapping"] = make_bar_pipeline(
                oracle, **bar_params(args, head="linear"))
        elif name == "bar-iterative":
            methods["BAR, iterative label mapping (ILM)"] = make_bar_pipeline(
                oracle, **bar_params(args, head="iterative"))
        elif name == "skbar":
            # skbar's own defaults (learned head, SPSA-GC on an 8x8 program, its final
            # pass), with only the embedding and the budget set.
            methods["skbar defaults (learned head, SPSA-GC)"] = pixels_pipeline(
                BlackBoxReprogrammingClassifier(
                    oracle, rescale=False, embed_size=args.embed_size, max_iter=10**9,
                    max_queries=args.max_queries, random_state=args.seed))
        elif name == "probe":
            methods["linear probe on black-box outputs"] = make_linear_probe(oracle, **embedding)
        elif name == "logistic":
            methods["from scratch: logistic regression"] = make_logistic_baseline()
        elif name == "mlp":
            methods["from scratch: MLP (64 hidden)"] = make_mlp_baseline(random_state=args.seed)
        elif args.model == "toy" or not torch_available():
            print(f"skipping {name!r}: it needs torch, efficientnet-lite-pytorch and a zoo "
                  "model (pip install torch efficientnet-lite-pytorch)")
        elif name == "ar":
            ar = WhiteBoxReprogrammingClassifier(
                **white_box, embed_size=args.embed_size, m=args.m,
                program_shape=(args.program_size, args.program_size),
                learning_rate=args.ar_learning_rate, batch_size=args.batch_size,
                max_iter=args.ar_steps)
            methods["AR, white-box (true gradients)"] = pixels_pipeline(ar, "ar")
        elif name == "finetune":
            tuned = FineTuningClassifier(**white_box, epochs=args.finetune_epochs,
                                         batch_size=args.batch_size)
            methods["fine-tuning, all weights"] = pixels_pipeline(tuned, "finetune")
    return methods


def main(argv=None):
    parser = experiment_parser(__doc__.splitlines()[0])
    parser.add_argument("--methods", default="skbar,bar,bar-linear,probe,logistic,mlp,ar",
                        help=f"comma-separated rows, of {','.join(METHODS)}")
    parser.add_argument("--ar-steps", type=int, default=20,
                        help="white-box AR: Adam steps (each a minibatch forward and backward)")
    parser.add_argument("--ar-learning-rate", type=float, default=0.05)
    parser.add_argument("--finetune-epochs", type=int, default=1)
    parser.add_argument("--fold-limit", type=int, default=None,
                        help="run only the first N of the folds (same folds, fewer of them)")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    task = load_task(args)
    oracle = make_oracle(args)
    methods = build_methods(args, oracle)
    cv = ten_fold(args.seed, n_splits=args.folds)
    if args.fold_limit:
        cv = list(cv.split(task.data, task.target))[:args.fold_limit]
    print(describe_run(args, task, started), flush=True)
    with parallel_backend(args):
        report = cross_validate_methods(methods, task.data, task.target, cv=cv,
                                        n_jobs=args.n_jobs, verbose=1)
    print()
    print(report.to_markdown())
    print(f"\nqueries / fold: images sent to the source model by each fold's fit (BAR's "
          f"budget: {args.max_queries:,d}); for AR and fine-tuning, images through the "
          "model with a backward pass, plus AR's mapping queries. Scoring adds one query "
          f"per test sample. Total wall time {time.perf_counter() - started:.0f} s.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
