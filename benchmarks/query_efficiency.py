"""Accuracy against queries spent: the figure of merit of black-box reprogramming.

For each task, method and seed, one fit runs to the largest budget; on the way it is
scored at every smaller budget ``B`` exactly as ``fit(max_queries=B)`` would have ended:
the same steps (the random stream is the same), stopped where a ``B`` budget could not
pay for the next step, and, for a learned output mapping, the final pass over the
training set paid from ``B``. Test-set predictions are not counted as training queries.

Results are appended to a JSON-lines file (a run already there is skipped), so an
interrupted benchmark continues where it stopped; ``--report`` prints the table at the
chosen budgets and draws the curves with Pillow.

    python benchmarks/query_efficiency.py --tasks digits --methods defaults,paper-bar \\
        --seeds 0,1 --budget 100000
    python benchmarks/query_efficiency.py --report --plot docs/query_efficiency.png

Tasks (half of each held out for testing, a new split per seed):
  digits        scikit-learn's 8x8 digits, 10 classes (898 training images)
  digits-top5   the same, the model answering only its five best classes and their
                scores (zeros elsewhere), as many prediction APIs do
  digits-2out   digits 3 against 8 (180 training images) on a model with two outputs:
                ImageNet's 398 animal classes pooled against the rest, like the
                paper's NSFW API
  program-only  a toy oracle blind without a program (skbar.oracles.ProgramOnlyOracle): only
                the program can carry the signal; 200 training samples
  asd           the SIMULATED ASD cohort (skbar.datasets.make_asd_cohort), 2 classes
  lfw           scikit-image's lfw_subset, faces against non-faces, 2 classes (100 training)

The white-box methods train through the full model (torch) and are scored, like the
black-box ones, through the task's restricted answers with the head refitted on them:
the ceiling of what a program can add in each regime.
"""

import argparse
import json
import os
import re
import sys
import time

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skbar import PAPER_BAR, BlackBoxReprogrammingClassifier, zoo
from skbar.optim import CMAES, SGD, SPSA, RandomDirections
from skbar.oracles import FunctionOracle, ProgramOnlyOracle, TopKOracle, call_oracle

CHECKPOINTS = (1000, 2000, 5000, 10000, 20000, 50000, 100000, 200000)

#: Estimator parameters of each method, on top of the task's embedding parameters. The
#: variants change one thing of skbar's defaults (SPSA-GC, antithetic random signs, an 8x8
#: program, the learned output mapping with its final pass).
METHODS = {
    # Tsai et al. (2020) as published: random unit directions on the sphere, one-sided
    # differences, b = d, a full-resolution W, focal loss, frequency mapping with the
    # fixed multi-label average, SGD at their step size.
    "paper-bar": dict(PAPER_BAR, m=10),
    "defaults": dict(),
    # The defaults reading one answer per sample where they read four (top-k answers);
    # elsewhere the same as the defaults.
    "one-view": dict(views=1),
    # The same as the defaults, named: BlackVIP's SPSA with gradient correction.
    "spsa-gc": dict(gradient="spsa", optimizer="spsa-gc"),
    # Two-sided directions on the sphere with ZO-Adam (step 0.01) or SGD (step 0.05).
    "zo-adam": dict(gradient=RandomDirections(antithetic=True), optimizer="adam"),
    "zo-sgd": dict(gradient=RandomDirections(antithetic=True), optimizer=SGD(0.05)),
    "one-sided": dict(gradient=SPSA(antithetic=False)),
    "program-4x4": dict(program_shape=(4, 4)),
    "program-16x16": dict(program_shape=(16, 16)),
    "program-full": dict(program_shape=None),
    # CMA-ES on a 4x4x3 program, with cma's own population 4 + int(3 ln 48) = 15.
    "cma": dict(optimizer=CMAES(sigma=0.2), q=15, program_shape=(4, 4)),
    # The learned head's search objectives (skbar.heads.LinearHead): the head
    # fitted on the very outputs it is scored on (the defaults before the held-out
    # loss), and the multi-label average with m = 10 (the paper's, a head shipped).
    "fitted-objective": dict(objective="fitted"),
    "average-objective": dict(objective="average", m=10),
    "average-mapping": dict(head="average"),
    "iterative-mapping": dict(head="iterative"),
}

#: White-box adversarial reprogramming (torch): the same program, true gradients. A
#: step sends ``batch_size`` images forward and backward, counted as queries.
WHITE_BOX = {
    # The ceiling of skbar's defaults: their 8x8 program and learned head.
    "white-box-ar": dict(output_mapping="linear", program_shape=(8, 8), learning_rate=0.01),
    # The same, its head started at the ridge fit (the black-box estimator's start).
    "white-box-ar-ridge-head": dict(output_mapping="linear", program_shape=(8, 8),
                                    learning_rate=0.01, head_init="ridge"),
    # The defaults' 8x8 program trained for the multi-label average (m = 10), the
    # search objective of the defaults on top-k answers.
    "white-box-ar-average": dict(m=10, output_mapping="average", program_shape=(8, 8),
                                 learning_rate=0.05),
    # The same program trained on the answers the black-box search sees: the top five
    # scores (for digits-top5), through the defaults' objective there, the multi-label
    # average in the log domain. What true gradients make of those answers.
    "white-box-ar-top5": dict(m=10, output_mapping="log-average", program_shape=(8, 8),
                              learning_rate=0.05, top_k=5),
    # Elsayed et al.'s AR as the paper ran it: a full program, the multi-label average.
    "white-box-ar-paper": dict(m=10, output_mapping="average", program_shape=None,
                               learning_rate=0.05),
}


# ------------------------------------------------------------------------ tasks

#: ImageNet's classes 0-397 are animals: the two outputs of ``two_outputs``.
IMAGENET_ANIMALS = 398


def two_outputs(oracle):
    """``oracle`` answering two scores: ImageNet's animal classes pooled against the rest."""
    def answer(canvases):
        animal = call_oracle(oracle, canvases)[:, :IMAGENET_ANIMALS].sum(axis=1)
        return np.stack([animal, 1.0 - animal], axis=1)

    return FunctionOracle(answer, oracle.input_shape)


#: What each task's oracle answers, from the full model's.
TASK_ORACLES = {"digits-top5": lambda oracle: TopKOracle(oracle, k=5), "digits-2out": two_outputs,
                "program-only": lambda oracle: ProgramOnlyOracle()}


def task_oracle(name, oracle):
    """The oracle task ``name`` queries: the model itself, or its restricted answers."""
    return TASK_ORACLES.get(name, lambda model: model)(oracle)


def load_task(name, seed):
    """``(X_train, y_train, X_test, y_test, params)`` with the embedding parameters."""
    if name in ("digits", "digits-top5", "digits-2out"):
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        if name == "digits-2out":
            X, y = X[(y == 3) | (y == 8)], y[(y == 3) | (y == 8)]
        params = dict(sample_shape=(8, 8))
    elif name == "program-only":
        rng = np.random.RandomState(seed)
        X = rng.rand(400, 16) * 0.6 + rng.randint(0, 2, (400, 1)) * 0.4
        y = (X.mean(axis=1) > 0.5).astype(int)
        params = dict(rescale=False, embed_size=None)
    elif name == "asd":
        from skbar.datasets import correlation_to_pixels, load_asd_task

        task = load_asd_task(random_state=0)
        X, y = correlation_to_pixels(task.data), task.target
        params = dict(rescale=False)
    elif name == "lfw":
        from skimage.data import lfw_subset

        X = lfw_subset()
        y = np.r_[np.ones(100, int), np.zeros(100, int)]  # 100 faces, then 100 non-faces
        params = dict(rescale=False)
    else:
        raise ValueError(f"unknown task {name!r}; expected digits, digits-top5, "
                         "digits-2out, program-only, asd or lfw")
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.5, stratify=y, random_state=seed)
    return X_train, y_train, X_test, y_test, params


# ------------------------------------------------------------------ evaluation

def _final_pass(clf):
    """Whether ``clf``'s fit ends with a pass over the training set (a learned mapping's)."""
    mapping = clf.head_
    return mapping.learned and mapping.refit_final


def _score_as_stopped(clf, X_train, y_train, X_test, y_test):
    """Test accuracy and training queries of ``fit(max_queries=B)`` stopped here."""
    if _final_pass(clf) and clf.n_iter_ > 0:
        # The final pass and the check, on the live fit: they replace its head and may set
        # its program back to the start, neither of which its search reads (the
        # objective keeps a head of its own; the next step sets the program).
        spent = clf.refit_head(X_train, y_train)
        return clf.score(X_test, y_test), clf.n_queries_ + spent
    return clf.score(X_test, y_test), clf.n_queries_


def _white_box_scorer(answers, embed):
    """Score a white-box fit through ``answers``, the task's (possibly restricted) oracle:
    a black-box estimator's probe on those answers, its program replaced by the one
    trained with true gradients, its head refitted on the answers under it."""
    def score(est, X_train, y_train, X_test, y_test):
        reader = BlackBoxReprogrammingClassifier(
            answers, max_iter=0, program_shape=est.bar_.program_shape,
            **embed).fit(X_train, y_train)
        reader.program_ = est.bar_.program_
        reader.set_params(select="last")  # the ceiling is the program's, never the grey frame's
        spent = reader.refit_head(X_train, y_train)
        return reader.score(X_test, y_test), est.n_queries_ + spent

    return score


def run_one(oracle, task, method, seed, budget, params, checkpoints=CHECKPOINTS,
            on_point=None):
    """One run to ``budget``, scored at each of ``checkpoints`` up to it; ``oracle`` is
    the task's. ``on_point(point)`` is called as each point is scored."""
    X_train, y_train, X_test, y_test, embed = task
    embed = dict({"embed_size": params["embed_size"]}, **embed)
    n = len(X_train)
    if method.partition(":")[0] in WHITE_BOX:
        from skbar.baselines import WhiteBoxReprogrammingClassifier

        clf = WhiteBoxReprogrammingClassifier(
            image_size=oracle.input_shape[0], batch_size=32,
            max_iter=budget // 32, n_threads=params["threads"], random_state=seed,
            **embed, **params["method"])
        reserve = n
        step_cost = min(32, n)
        score = _white_box_scorer(oracle, embed)
    else:
        clf = BlackBoxReprogrammingClassifier(
            oracle, batch_size=32, max_iter=10**9,
            max_queries=budget, random_state=seed, **embed, **params["method"])
        reserve = None  # known after the initial fit below
        step_cost = clf.queries_per_step(n)
        score = _score_as_stopped
    pending = sorted(b for b in checkpoints if b <= budget)
    points = []
    started = time.perf_counter()

    def evaluate_due(estimator, queries_now):
        # A budget B stops the fit where it cannot pay for the next step and the reserve
        # (a step at the q this fit resolved).
        cost = step_cost if not hasattr(estimator, "q_") else \
            estimator.optimizer_.n_evaluations(estimator.q_, estimator.gradient_) * \
            min(estimator.batch_size, n)
        while pending and queries_now + cost + reserve > pending[0]:
            accuracy, spent = score(estimator, X_train, y_train, X_test, y_test)
            points.append({"budget": pending.pop(0), "queries": int(spent),
                           "accuracy": float(accuracy), "n_iter": int(estimator.n_iter_),
                           "seconds": round(time.perf_counter() - started, 1)})
            if on_point is not None:
                on_point(points[-1])

    # Budgets too small for a single step end with the initial mapping alone.
    initial = clone(clf).set_params(max_iter=0).fit(X_train, y_train)
    if reserve is None:
        # The final pass sends each sample under the program; the fixed views' answers
        # are the initial fit's (several views are known once it has read the answers).
        reserve = n if _final_pass(initial) else 0
        step_cost = initial.queries_per_step(n)
    evaluate_due(initial, initial.n_queries_)

    def callback(estimator, info):
        evaluate_due(estimator, info["n_queries"])
        return not pending

    # The white-box estimator takes one callable, the black-box one a list of callbacks.
    clf.set_params(**{"callback" if hasattr(clf, "callback") else "callbacks": callback})
    if not pending:
        return points
    groups = [list(pending)] if hasattr(clf, "callback") else \
        _same_settings(initial, pending, reserve, n)
    for group in groups:
        # One fit per group of budgets that resolve q="auto" and the default optimiser's
        # gain alike: a budget then ends as fit(max_queries=budget) would have.
        pending[:] = group
        fit = clone(clf).set_params(max_queries=group[-1]) if len(groups) > 1 else clf
        fit.fit(X_train, y_train)
        evaluate_due(fit, float("inf"))
    return points


def _same_settings(initial, budgets, reserve, n):
    """``budgets`` (ascending) cut into runs of those at which a fit resolves the same
    settings: ``q="auto"`` and the default optimiser's first gain depend on whether the
    budget is small (``skbar._parts.small_budget``) after the first pass and ``reserve``."""
    from skbar._parts import small_budget

    batch = min(initial.batch_size, n)
    groups = []
    for budget in budgets:
        small = small_budget(initial.optimizer_, initial.gradient_,
                             budget - initial.n_queries_ - reserve, batch)
        if groups and groups[-1][0] == small:
            groups[-1][1].append(budget)
        else:
            groups.append((small, [budget]))
    return [group for _, group in groups]


def run_baselines(oracle, task, embed_size):
    """The black-box linear probes (one query per training sample) and pixels-only LR."""
    X_train, y_train, X_test, y_test, embed = task
    embed = dict({"embed_size": embed_size}, **embed)
    probe = BlackBoxReprogrammingClassifier(
        oracle, label_map="random", max_iter=0, views=1,
        **embed).fit(X_train, y_train)

    def log_outputs(X):
        canvases = probe.reprogram(X)
        return np.log(np.clip(np.concatenate([call_oracle(oracle, canvases[i:i + 256])
                                              for i in range(0, len(canvases), 256)]),
                              1e-12, None))

    logistic = LogisticRegression(C=0.1, max_iter=3000).fit(log_outputs(X_train), y_train)
    flat_train = X_train.reshape(len(X_train), -1)
    flat_test = X_test.reshape(len(X_test), -1)
    scale = max(float(np.abs(flat_train).max()), 1e-12)
    pixels = LogisticRegression(max_iter=5000).fit(flat_train / scale, y_train)
    # The defaults' own probe: the same estimator with max_iter=0 (frequency mapping).
    own = BlackBoxReprogrammingClassifier(oracle, max_iter=0, **embed).fit(X_train, y_train)
    rows = []
    if own.n_views_ > 1:
        # Where the defaults send each sample under several views (top-k answers), also
        # their probe on one answer per sample: the probe of the paper's single query.
        one = BlackBoxReprogrammingClassifier(oracle, max_iter=0,
                                              views=1,
                                              **embed).fit(X_train, y_train)
        rows.append({"method": "probe-defaults-one-view", "queries": int(one.n_queries_),
                     "accuracy": float(one.score(X_test, y_test))})
    return rows + [
        {"method": "probe-defaults", "queries": int(own.n_queries_),
         "accuracy": float(own.score(X_test, y_test))},
        {"method": "probe-ridge", "queries": int(probe.n_queries_),
         "accuracy": float(probe.score(X_test, y_test))},
        {"method": "probe-logistic", "queries": len(X_train),
         "accuracy": float(logistic.score(log_outputs(X_test), y_test))},
        {"method": "pixels-logistic", "queries": 0,
         "accuracy": float(pixels.score(flat_test / scale, y_test))},
    ]


# ---------------------------------------------------------------------- driver

def _split_methods(methods):
    """The method specs of ``--methods``: split at commas outside brackets, so that an
    override may be a JSON list (``program-16x16:program_shape=[32,32]``)."""
    return [spec for spec in re.split(r",(?![^\[]*\])", methods) if spec]


def _parse_method(spec):
    """``name`` or ``name:param=value;...`` (values read as JSON, else as strings)."""
    name, _, overrides = spec.partition(":")
    known = {**METHODS, **WHITE_BOX}
    if name not in known:
        raise SystemExit(f"unknown method {name!r}; expected one of {', '.join(known)}")
    params = dict(known[name])
    for item in filter(None, overrides.split(";")):
        key, _, value = item.partition("=")
        try:
            params[key] = json.loads(value)
        except json.JSONDecodeError:
            params[key] = value
        if isinstance(params[key], list):
            params[key] = tuple(params[key])
    return spec, params


def _done(path):
    done = set()
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                done.add((row["task"], row["method"], row["seed"], row.get("budget_max")))
    return done


def run(args):
    model = zoo.load(args.model, image_size=args.image_size, n_threads=args.threads)
    done = _done(args.out)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    for task_name in args.tasks.split(","):
        oracle = task_oracle(task_name, model)
        for seed in [int(s) for s in args.seeds.split(",")]:
            task = load_task(task_name, seed)
            if args.baselines and (task_name, "baselines", seed, None) not in done:
                for row in run_baselines(oracle, task, args.embed_size):
                    _append(args.out, dict(row, task=task_name, seed=seed))
                _append(args.out, {"task": task_name, "method": "baselines", "seed": seed})
            for spec in _split_methods(args.methods):
                spec, params = _parse_method(spec)
                if (task_name, spec, seed, args.budget) in done:
                    continue
                started = time.perf_counter()
                points = run_one(oracle, task, spec, seed, args.budget,
                                 {"embed_size": args.embed_size, "method": params,
                                  "threads": args.threads})
                row = {"task": task_name, "method": spec, "seed": seed,
                       "budget_max": args.budget, "points": points,
                       "seconds": round(time.perf_counter() - started, 1),
                       "image_size": args.image_size, "embed_size": args.embed_size}
                _append(args.out, row)
                last = points[-1]
                print(f"{task_name:7s} {spec:28s} seed {seed}: {last['accuracy']:.3f} at "
                      f"{last['queries']:,d} queries ({row['seconds']:.0f} s)", flush=True)


def _append(path, row):
    with open(path, "a") as f:
        f.write(json.dumps(row) + "\n")


# ---------------------------------------------------------------------- report

def load_results(paths):
    """The runs in ``paths`` (comma-separated files, read in order: a later run of the same
    task, method and seed replaces an earlier one)."""
    curves, lines = {}, {}
    for path in paths.split(","):
        with open(path) as f:
            for line in f:
                row = json.loads(line)
                if "points" in row:
                    curves.setdefault((row["task"], row["method"]), {})[row["seed"]] = row["points"]
                elif "accuracy" in row:
                    lines.setdefault((row["task"], row["method"]), {})[row.get("seed")] = row
    return curves, {key: list(rows.values()) for key, rows in lines.items()}


def accuracy_at(points, budget):
    """Accuracy of the run at budget ``budget`` (None when the run did not reach it)."""
    for point in points:
        if point["budget"] == budget:
            return point["accuracy"]
    return None


def report(args):
    curves, lines = load_results(args.out)
    budgets = [int(b) for b in args.table_budgets.split(",")]
    tasks = sorted({task for task, _ in curves} | {task for task, _ in lines})
    for task in tasks:
        print(f"\n## {task}\n")
        header = "| method | seeds | " + " | ".join(f"{b // 1000}k" for b in budgets) + " |"
        print(header)
        print("|" + "---|" * (2 + len(budgets)))
        for (t, method), runs in sorted(curves.items()):
            if t != task:
                continue
            cells = []
            for b in budgets:
                values = [a for a in (accuracy_at(p, b) for p in runs.values()) if a is not None]
                cells.append(f"{np.mean(values):.3f} ± {np.std(values):.3f}" if values else "")
            print(f"| {method} | {len(runs)} | " + " | ".join(cells) + " |")
        for (t, method), rows in sorted(lines.items()):
            if t != task:
                continue
            values = [r["accuracy"] for r in rows]
            queries = int(np.mean([r["queries"] for r in rows]))
            cell = f"{np.mean(values):.3f} ± {np.std(values):.3f} ({queries:,d} q)"
            print(f"| {method} (flat) | {len(rows)} | " + " | ".join([cell] * len(budgets)) + " |")
    if args.plot:
        from _curves import save_curves

        if args.plot_methods:
            keep = set(args.plot_methods.split(","))
            curves = {key: runs for key, runs in curves.items() if key[1] in keep}
        save_curves(curves, lines, args.plot)
        print(f"\nsaved {args.plot}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="digits,asd,lfw")
    parser.add_argument("--methods", default="paper-bar,defaults",
                        help="comma-separated; name or name:param=value;param=value "
                             "('' for the baselines alone)")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--budget", type=int, default=20000, help="largest budget of each run")
    parser.add_argument("--baselines", action="store_true",
                        help="also run the linear probes and pixel logistic regression")
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--embed-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--out", default="benchmarks/results/query_efficiency.jsonl",
                        help="the results file; with --report, one or more, comma-separated")
    parser.add_argument("--report", action="store_true", help="print the table; run nothing")
    parser.add_argument("--table-budgets", default="5000,20000,100000")
    parser.add_argument("--plot", default=None, help="PNG of the curves (with --report)")
    parser.add_argument("--plot-methods", default=None,
                        help="comma-separated methods to draw (default: all)")
    args = parser.parse_args(argv)
    return report(args) if args.report else run(args)


if __name__ == "__main__":
    sys.exit(main())
