"""The command-line options the example scripts share: data, source model, budget, parallelism."""

import argparse
import contextlib
import os
import platform
import time

import joblib

from ..oracles import RandomNetworkOracle
from ._asd import load_asd_task


def experiment_parser(description):
    """An ``argparse`` parser with the options every ASD experiment takes."""
    parser = argparse.ArgumentParser(description=description,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    data = parser.add_argument_group("data")
    data.add_argument("--abide-root", default=None,
                      help="folder of ABIDE Preprocessed CC200 files and the phenotypic CSV; "
                           "without it, the SIMULATED cohort (make_asd_cohort)")
    data.add_argument("--n-asd", type=int, default=503, help="simulated ASD subjects")
    data.add_argument("--n-control", type=int, default=531, help="simulated controls")
    data.add_argument("--n-regions", type=int, default=200, help="simulated regions")
    data.add_argument("--folds", type=int, default=10, help="stratified CV folds")
    data.add_argument("--seed", type=int, default=0, help="cohort, folds and estimators")
    model = parser.add_argument_group("source model")
    model.add_argument("--model", default="efficientnet-lite0",
                       help="skbar.zoo model, or 'toy' for a RandomNetworkOracle (a smoke run)")
    model.add_argument("--image-size", type=int, default=128,
                       help="resolution the model runs at (its own: 224)")
    model.add_argument("--embed-size", type=int, default=112,
                       help="pixels the correlation matrix is resized to on the canvas")
    bar = parser.add_argument_group("BAR")
    bar.add_argument("--max-queries", type=int, default=2000,
                     help="query budget of each fold's fit, the frequency mapping's included")
    bar.add_argument("--q", type=int, default=4, help="random directions per gradient estimate")
    bar.add_argument("--m", type=int, default=3, help="source labels per target class")
    bar.add_argument("--batch-size", type=int, default=8)
    bar.add_argument("--learning-rate", type=float, default=0.1)
    bar.add_argument("--program-size", type=int, default=8,
                     help="side of the reduced program W, upsampled to the canvas (AutoZOOM)")
    run = parser.add_argument_group("parallelism")
    run.add_argument("--n-jobs", type=int, default=2, help="folds / grid points in parallel")
    run.add_argument("--scheduler", default=None,
                     help="address of a Dask scheduler (tcp://...), or 'local' for a "
                          "LocalCluster of --n-jobs worker processes: run the folds there "
                          "through joblib's Dask backend")
    return parser


def load_task(args):
    """The ASD data the options name."""
    return load_asd_task(args.abide_root, n_asd=args.n_asd, n_control=args.n_control,
                         n_regions=args.n_regions, random_state=args.seed)


def make_oracle(args):
    """The source model: the zoo's at ``--image-size``, or the toy network for ``--model toy``.

    With folds in parallel, each process runs the model on one thread: two processes of
    two threads on two cores only fight.
    """
    if args.model == "toy":
        size = args.embed_size + 8
        return RandomNetworkOracle(input_shape=(size, size, 3), n_classes=100, record=False)
    from .. import zoo

    threads = 1 if (args.n_jobs or 1) != 1 or args.scheduler else None
    return zoo.load(args.model, image_size=args.image_size, n_threads=threads)


def bar_params(args, **overrides):
    """BlackBoxReprogrammingClassifier parameters from the options."""
    params = {"embed_size": args.embed_size, "q": args.q, "m": args.m,
              "batch_size": args.batch_size, "learning_rate": args.learning_rate,
              "optimizer": "adam", "program_shape": (args.program_size, args.program_size),
              "max_iter": 10**9, "max_queries": args.max_queries, "random_state": args.seed}
    params.update(overrides)
    return params


@contextlib.contextmanager
def parallel_backend(args):
    """joblib's Dask backend on the cluster at ``--scheduler``; the default backend otherwise."""
    if args.scheduler is None:
        yield
        return
    from dask.distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        address = args.scheduler
        if address == "local":
            address = stack.enter_context(LocalCluster(
                n_workers=args.n_jobs, threads_per_worker=1, processes=True))
        stack.enter_context(Client(address))
        stack.enter_context(joblib.parallel_backend("dask"))
        yield


def describe_run(args, task, started):
    """Lines saying what ran where, for the top of an example's output."""
    model = (f"toy RandomNetworkOracle ({args.embed_size + 8} px)" if args.model == "toy"
             else f"{args.model} at {args.image_size} px")
    return (f"data: {task.name}\n"
            f"model: {model}, matrix embedded at "
            f"{args.embed_size} px; {args.folds}-fold stratified CV (seed {args.seed}); "
            f"n_jobs={args.n_jobs}{' on ' + args.scheduler if args.scheduler else ''}\n"
            f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
            f"{time.perf_counter() - started:.0f} s so far")
