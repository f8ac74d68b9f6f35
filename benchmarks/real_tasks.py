"""Real tasks: skbar on data and budgets that no one tuned its defaults to.

For each task, regime, seed and method, one fit runs to the largest budget asked for and
is scored on the way at each smaller one exactly as ``fit(max_queries=B)`` would have
ended (benchmarks/query_efficiency.py, ``run_one``). Each scored budget is one row of a
JSON-lines file, written as soon as it is known; a row already there is not run again, so
an interrupted run continues where it stopped. ``--report`` prints the tables, mean ± sd
over seeds, and the gains over the probe that the targets read; ``--docs FILE`` writes
them into FILE between its two ``real_tasks`` markers (docs/query_efficiency.md).

    python benchmarks/real_tasks.py --tasks elpv,animal-mnist --seeds 0,1,2
    python benchmarks/real_tasks.py --report --docs docs/query_efficiency.md

Tasks (a new stratified split per seed; ``name@E/C`` embeds the sample at E pixels in a
canvas of C pixels, the source model's input, instead of the task's default):
  elpv           electroluminescence images of solar cells, defective against functional
                 (skbar.datasets.load_elpv; pip install elpv-dataset), 200 training and
                 1,000 test images, 160 px in a 224 px canvas
  animal-mnist   animal silhouettes, 10 classes (skbar.datasets.load_animal_mnist;
                 pip install --no-deps animal-mnist), 500 training and 1,000 test images,
                 64 px in a 96 px canvas
  digits         scikit-learn's 8x8 digits, 10 classes, 600 training and 1,000 test
                 images, 160 px in a 224 px canvas

Regimes: ``full`` (every score of the source model, EfficientNet-Lite0 from skbar.zoo) and
``top5`` (its five best classes and their scores, zeros elsewhere, as many prediction
APIs answer: skbar.oracles.TopKOracle).

Methods:
  probe        the defaults' own probe: the defaults with ``max_iter=0`` (no search)
  defaults     BlackBoxReprogrammingClassifier's defaults
  paper-bar    BAR as published (skbar.PAPER_BAR, m = 10)
  pixels       logistic regression on the embedded sample's pixels (no query)
  white-box    the ceiling: the defaults' 8x8 program trained with true gradients through
               the same model (skbar.baselines, the torch extra) and read, head refitted,
               through the regime's answers; on top five answers trained on those answers

The probe and the pixels spend what they spend whatever the budget; their rows repeat
the same figure at each budget so that a table row reads across.
"""

import argparse
import contextlib
import functools
import io
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from query_efficiency import METHODS as BLACK_BOX
from query_efficiency import WHITE_BOX, run_one
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skbar import BlackBoxReprogrammingClassifier, zoo
from skbar.oracles import TopKOracle

try:
    from skbar.canvas import resize_images, to_images
except ImportError:  # skbar before its canvas/ layout (0.1)
    from skbar.program import resize_images, to_images

BUDGETS = (3000, 10000, 30000)
METHODS = ("probe", "defaults", "paper-bar", "pixels", "white-box")
REGIMES = {"full": lambda model: model, "top5": lambda model: TopKOracle(model, k=5)}
#: The white-box ceiling of each regime (benchmarks/query_efficiency.py, WHITE_BOX).
WHITE_BOX_OF = {"full": "white-box-ar", "top5": "white-box-ar-top5"}


# ------------------------------------------------------------------------ tasks

def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return X.reshape(-1, 8, 8), y


def _elpv():
    from skbar.datasets import load_elpv

    return load_elpv()


def _animal_mnist():
    from skbar.datasets import load_animal_mnist

    return load_animal_mnist()


@dataclass(frozen=True)
class Task:
    """A data set and how it is cut and embedded.

    ``load()`` returns every image ``(n, h, w)`` and its label; each seed draws
    ``n_train`` training and ``n_test`` test images from them, stratified, and the images
    are resized to ``embed`` pixels, centred in a ``canvas``-pixel input of the model.
    """

    load: callable
    n_train: int
    n_test: int
    embed: int
    canvas: int


TASKS = {
    "elpv": Task(_elpv, n_train=200, n_test=1000, embed=160, canvas=224),
    "animal-mnist": Task(_animal_mnist, n_train=500, n_test=1000, embed=64, canvas=96),
    "digits": Task(_digits, n_train=600, n_test=1000, embed=160, canvas=224),
}


def parse_task(spec):
    """``(label, Task)`` of ``name`` or ``name@E/C`` (E px embedded in a C px canvas);
    the label, ``name@E/C`` in full, is the task as the rows name it."""
    name, _, resolution = spec.partition("@")
    if name not in TASKS:
        raise SystemExit(f"unknown task {name!r}; expected one of {', '.join(TASKS)}")
    task = TASKS[name]
    if resolution:
        try:
            embed, canvas = (int(v) for v in resolution.split("/"))
        except ValueError:
            raise SystemExit(f"task {spec!r}: expected name@EMBED/CANVAS, "
                             "e.g. elpv@64/96") from None
        if not 0 < embed <= canvas:
            raise SystemExit(f"task {spec!r}: the sample ({embed} px) must fit in the "
                             f"canvas ({canvas} px)")
        task = Task(task.load, task.n_train, task.n_test, embed, canvas)
    return f"{name}@{task.embed}/{task.canvas}", task


@functools.lru_cache(maxsize=4)
def _all_images(load):
    return load()


def split(task, seed):
    """``(X_train, y_train, X_test, y_test)`` of ``seed``: images resized to the task's
    embedding size, as the estimator would resize them (float32, the data's own range)."""
    X, y = _all_images(task.load)
    n_test = min(task.n_test, len(X) - task.n_train)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, train_size=task.n_train, test_size=n_test, stratify=y, random_state=seed)
    size = (task.embed, task.embed)
    return (resize_images(to_images(X_train), size), y_train,
            resize_images(to_images(X_test), size), y_test)


def load_model(canvas, threads):
    """The source model at ``canvas`` pixels: EfficientNet-Lite0 from the zoo."""
    return zoo.load("efficientnet-lite0", image_size=canvas, n_threads=threads)


# ------------------------------------------------------------------- methods

def probe(oracle, data, seed):
    """The defaults' own probe (``max_iter=0``): accuracy and queries."""
    X_train, y_train, X_test, y_test = data
    clf = BlackBoxReprogrammingClassifier(oracle, max_iter=0, random_state=seed)
    clf.fit(X_train, y_train)
    return float(clf.score(X_test, y_test)), int(clf.n_queries_)


def pixels(data):
    """Logistic regression on the embedded sample's pixels, scaled to [0, 1]: no query."""
    X_train, y_train, X_test, y_test = data
    flat_train = X_train.reshape(len(X_train), -1)
    scale = max(float(np.abs(flat_train).max()), 1e-12)
    lr = LogisticRegression(max_iter=5000).fit(flat_train / scale, y_train)
    return float(lr.score(X_test.reshape(len(X_test), -1) / scale, y_test)), 0


def searched(oracle, data, regime, method, seed, budgets, threads, on_point):
    """A fit of ``method`` to the largest of ``budgets``, each budget scored as it ends."""
    if method == "white-box":
        name, params = WHITE_BOX_OF[regime], WHITE_BOX[WHITE_BOX_OF[regime]]
    else:
        name, params = method, BLACK_BOX[method]
    X_train, y_train, X_test, y_test = data
    embed_size = X_train.shape[1]
    run_one(oracle, (X_train, y_train, X_test, y_test, {}), name, seed, max(budgets),
            {"embed_size": embed_size, "method": params, "threads": threads},
            checkpoints=budgets, on_point=on_point)


# ---------------------------------------------------------------------- driver

def _done(path):
    """The ``(task, regime, method, seed, budget)`` of the rows in ``path``."""
    done = set()
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    done.add((row["task"], row["regime"], row["method"], row["seed"],
                              row["budget"]))
    return done


def _append(path, row):
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


def _list(text, what, known=None, cast=str):
    values = [cast(v) for v in text.split(",") if v]
    unknown = [v for v in values if known is not None and v not in known]
    if not values:
        raise SystemExit(f"--{what}: expected a comma-separated list, got {text!r}")
    if unknown:
        raise SystemExit(f"--{what}: unknown {', '.join(unknown)}; expected a "
                         f"comma-separated list of {', '.join(known)}")
    return values


def run(args):
    tasks = [parse_task(spec) for spec in _list(args.tasks, "tasks")]
    regimes = _list(args.regimes, "regimes", REGIMES)
    methods = _list(args.methods, "methods", METHODS)
    seeds = _list(args.seeds, "seeds", cast=int)
    budgets = sorted(_list(args.budgets, "budgets", cast=int))
    if "white-box" in methods:
        from skbar.baselines import torch_available

        if not torch_available():
            raise SystemExit("--methods white-box needs torch: pip install 'skbar[torch]'")
    done = _done(args.out)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    models = {}
    for name, task in tasks:
        for seed in seeds:
            data = None
            for regime in regimes:
                for method in methods:
                    due = [b for b in budgets if (name, regime, method, seed, b) not in done]
                    if not due:
                        continue
                    if data is None:
                        data = split(task, seed)
                    if task.canvas not in models:
                        models[task.canvas] = load_model(task.canvas, args.threads)
                    oracle = REGIMES[regime](models[task.canvas])
                    started = time.perf_counter()
                    base = {"task": name, "regime": regime, "method": method, "seed": seed,
                            "n_train": len(data[0]), "n_test": len(data[2])}

                    def write(point, base=base):
                        row = dict(base, **point)
                        _append(args.out, row)
                        print(f"{name:18s} {regime:4s} {method:9s} seed {seed} "
                              f"{row['budget']:>6,d}: {row['accuracy']:.3f} "
                              f"({row['queries']:,d} queries, {row['seconds']:.0f} s)",
                              flush=True)

                    if method in ("probe", "pixels"):
                        if method == "probe":
                            accuracy, queries = probe(oracle, data, seed)
                        else:
                            accuracy, queries = pixels(data)
                        seconds = round(time.perf_counter() - started, 1)
                        for budget in due:
                            write({"budget": budget, "accuracy": accuracy,
                                   "queries": queries, "n_iter": 0, "seconds": seconds})
                    else:
                        searched(oracle, data, regime, method, seed, due, args.threads, write)


# ---------------------------------------------------------------------- report

def load_rows(paths):
    """``{(task, regime, method, budget): {seed: row}}`` from the comma-separated
    ``paths``, read in order (a later row of the same key and seed replaces an earlier)."""
    table = {}
    for path in paths.split(","):
        with open(path) as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    key = (row["task"], row["regime"], row["method"], row["budget"])
                    table.setdefault(key, {})[row["seed"]] = row
    return table


def report(args):
    """Print one markdown table per task and regime: a row per budget, a column per
    method, each cell the test accuracy's mean ± sd over seeds (the population sd, as
    benchmarks/query_efficiency.py reports it; and the seed count where it differs from
    the row's largest)."""
    table = load_rows(args.out)
    order = {m: i for i, m in enumerate(METHODS)}
    methods = sorted({key[2] for key in table}, key=lambda m: order.get(m, len(order)))
    for task, regime in sorted({key[:2] for key in table}):
        print(f"\n### {task}, {'full outputs' if regime == 'full' else 'top five answers'}\n")
        print("| budget | " + " | ".join(methods) + " |")
        print("|---:|" + "---:|" * len(methods))
        for budget in sorted({key[3] for key in table if key[:2] == (task, regime)}):
            runs = [table.get((task, regime, m, budget), {}) for m in methods]
            most = max(len(r) for r in runs)
            cells = []
            for r in runs:
                values = [row["accuracy"] for row in r.values()]
                cell = f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else ""
                if values and len(values) != most:
                    cell += f" ({len(values)} seeds)"
                cells.append(cell)
            print(f"| {budget:,d} ({most} seeds) | " + " | ".join(cells) + " |")
        _print_gains(table, task, regime)


def _print_gains(table, task, regime):
    """The gain of the defaults and of the white-box ceiling over the same seed's probe, in
    points, at each budget: what the targets read (the mean over seeds of the per-seed
    differences)."""
    for method in ("defaults", "white-box"):
        lines = []
        for budget in sorted({key[3] for key in table if key[:2] == (task, regime)}):
            probe = table.get((task, regime, "probe", budget), {})
            rows = table.get((task, regime, method, budget), {})
            seeds = sorted(set(probe) & set(rows))
            if seeds:
                gains = [100 * (rows[s]["accuracy"] - probe[s]["accuracy"]) for s in seeds]
                lines.append(f"{budget:,d}: {np.mean(gains):+.1f} (seeds "
                             f"{', '.join(map(str, seeds))}: "
                             + ", ".join(f"{g:+.1f}" for g in gains) + ")")
        if lines:
            print(f"\nThe {method} over the probe, in points: " + "; ".join(lines) + ".")


#: The lines of a docs page between which ``--docs`` writes the report.
BEGIN, END = "<!-- real_tasks.py --report: begin -->", "<!-- real_tasks.py --report: end -->"


def write_into(path, text):
    """Replace what lies between the ``BEGIN`` and ``END`` lines of ``path`` with ``text``."""
    page = Path(path).read_text()
    if BEGIN not in page or END not in page:
        raise SystemExit(f"--docs {path}: expected the lines {BEGIN!r} and {END!r}")
    head, rest = page.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    Path(path).write_text(f"{head}{BEGIN}\n{text.strip()}\n{END}{tail}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default=",".join(TASKS),
                        help="comma-separated; name or name@EMBED/CANVAS")
    parser.add_argument("--regimes", default=",".join(REGIMES))
    parser.add_argument("--budgets", default=",".join(map(str, BUDGETS)))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=None,
                        help="ONNX Runtime's (and torch's) threads; their default when None")
    parser.add_argument("--out", default="benchmarks/results/real_tasks.jsonl",
                        help="the results file; with --report, one or more, comma-separated")
    parser.add_argument("--report", action="store_true", help="print the table; run nothing")
    parser.add_argument("--docs", default=None,
                        help="with --report: also write the tables into this file, between "
                             f"its lines {BEGIN!r} and {END!r}")
    args = parser.parse_args(argv)
    if not args.report:
        return run(args)
    if args.docs is None:
        return report(args)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        report(args)
    print(printed.getvalue(), end="")
    write_into(args.docs, printed.getvalue())


if __name__ == "__main__":
    sys.exit(main())
