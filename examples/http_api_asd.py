"""Reprogram an ImageNet model behind a prediction API for the ASD task, and count the cost.

The paper reprogrammed commercial prediction APIs and reported, for a few values of
``q``, the queries each fit spent, the test accuracy and the dollars. This example does
the same against a local stand-in for such an API:

* a KServe model server (Open Inference Protocol v2; ``tests/servers/kserve_runtime.py``,
  installed by ``bash scripts/setup_test_server.sh``) started here as a subprocess on
  127.0.0.1, serving skbar's EfficientNet-Lite0 (ImageNet, 1000 classes) as an API would:
  probabilities, behind an API key, counting every image it receives;
* the same model a second time, answering only its top-5 labels and their scores, as
  many real APIs do (read with :class:`skbar.oracles.TopKResponse`);
* the task: a SIMULATED autism (ASD) vs control cohort shaped like ABIDE
  (:func:`skbar.datasets.make_asd_cohort`: 200x200 correlation matrices; nothing in it is
  real data, and its accuracies say nothing about autism), split into train and test.

As in the paper's API experiments the labels are mapped at random (``label_map="random"``),
which costs no query, where the frequency mapping would pay one per training sample.

The price per 1,000 queries is an ASSUMPTION (``--price``, default $1.20, Clarifai's
published price around the time of the paper); the local server charges nothing.

Usage::

    python examples/http_api_asd.py                  # 5 minutes on 2 busy CPU cores
    python examples/http_api_asd.py --q 1 5 10 --steps 20 --n-train 200 --price 1.20
    python examples/http_api_asd.py --url https://my-kserve:8080   # a server of your own

With ``--url``, the server must serve the model under the names ``efficientnet-lite0``
(and ``efficientnet-lite0-top5`` unless ``--top-k 0``), and the key is read from
``$SKBAR_API_KEY``.
"""

import argparse
import os
import secrets
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from skbar import BlackBoxReprogrammingClassifier, zoo
from skbar.callbacks import QueryCost
from skbar.optim import SPSA, Adam
from skbar.datasets import make_asd_cohort
from skbar.oracles import HttpOracle, TopKResponse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from servers.kserve_process import SERVER_PYTHON, KServeProcess  # the test server

MODEL = "efficientnet-lite0"
# The server names ImageNet class i "class_{i:02d}" in its top-k answers.
LABELS = [f"class_{i:02d}" for i in range(1000)]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--q", type=int, nargs="+", default=[1, 5, 10],
                        help="random directions per gradient estimate, one fit each "
                             "(default: 1 5 10)")
    parser.add_argument("--steps", type=int, default=10, help="steps per fit (default: 10)")
    parser.add_argument("--max-queries", type=int, default=None,
                        help="hard budget of each fit, in images (default: none; a step "
                             "costs (q + 1) * batch-size)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--m", type=int, default=10, help="ImageNet labels per target class")
    parser.add_argument("--n-train", type=int, default=100, help="training subjects")
    parser.add_argument("--n-test", type=int, default=100, help="held-out test subjects")
    parser.add_argument("--difficulty", type=float, default=1.0,
                        help="of the simulated cohort (1: a logistic regression on the full "
                             "cohort reaches about 71%%, 0.25: 98%%)")
    parser.add_argument("--image-size", type=int, default=128,
                        help="resolution the model is served at (default: 128, for CPUs)")
    parser.add_argument("--embed-size", type=int, default=64,
                        help="pixels the 200x200 matrix is resized to on the canvas")
    parser.add_argument("--price", type=float, default=1.20,
                        help="ASSUMED price in dollars per 1,000 queries (default: 1.20)")
    parser.add_argument("--top-k", type=int, default=5,
                        help="also fit on the top-k answers only (0: skip; default: 5)")
    parser.add_argument("--top-k-q", type=int, default=None,
                        help="q of the top-k fit (default: the median of --q)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", default=None,
                        help="use this v2 server instead of starting the local one")
    parser.add_argument("--verbose", action="store_true", help="progress bars with the cost")
    return parser.parse_args(argv)


@contextmanager
def local_api(args):
    """A KServe server on 127.0.0.1 with the full and the top-k model; yields it.

    It answers probabilities (a softmax after the model's logits), demands an API key
    (made up here, handed to the client through ``$SKBAR_API_KEY``) and counts every
    image it receives (``images_received()``).
    """
    if not SERVER_PYTHON.exists():
        sys.exit(f"No KServe at {SERVER_PYTHON}: run `bash scripts/setup_test_server.sh` "
                 "first (or set $SKBAR_TEST_SERVER_PYTHON), or pass --url.")
    path = zoo.model_path(MODEL, image_size=args.image_size)
    models = {MODEL: path}
    if args.top_k:
        models[f"{MODEL}-top{args.top_k}:top{args.top_k}"] = path
    key = secrets.token_urlsafe(24)
    os.environ["SKBAR_API_KEY"] = key  # where HttpOracle looks for it (api_key_env)
    with tempfile.TemporaryDirectory() as workdir, KServeProcess(
            models, workdir, api_key=key, extra_args=["--softmax"]) as server:
        yield server


@contextmanager
def existing_api(url):
    """A server of your own: nothing to start, nothing counted here."""
    yield SimpleNamespace(url=url, images_received=lambda: None)


def api_oracle(url, model_name, preprocessing, response=None):
    """The API as an oracle: canvases go out as binary v2 tensors, 16 to a request."""
    return HttpOracle(url, model_name, scale=preprocessing.scale, mean=preprocessing.mean,
                      std=preprocessing.std, response=response, binary=True,
                      max_batch_size=16, max_concurrency=2, timeout=60)


def reprogram(oracle, q, data, args):
    """Fit BAR through ``oracle``; its queries, test accuracy, cost and wall time."""
    X_train, X_test, y_train, y_test = data
    cost = QueryCost(per_1000=args.price)
    clf = BlackBoxReprogrammingClassifier(
        oracle, embed_size=args.embed_size, q=q, m=args.m, label_map="random",
        head="average", gradient=SPSA(antithetic=False), optimizer=Adam(0.05),
        program_shape=(8, 8), batch_size=args.batch_size, max_iter=args.steps,
        max_queries=args.max_queries, callbacks=[cost], verbose=int(args.verbose),
        random_state=args.seed)
    start = time.perf_counter()
    clf.fit(X_train, y_train)
    seconds = time.perf_counter() - start
    return {"queries": clf.n_queries_, "accuracy": clf.score(X_test, y_test),
            "cost": cost.cost_, "seconds": seconds, "steps": clf.n_iter_}


def _report(row):
    print(f"  q={row['q']:<3} {row['answers']:<14} {row['steps']} steps, "
          f"{row['queries']:,d} queries, test accuracy {row['accuracy']:.3f}, "
          f"${row['cost']:.2f}, {row['seconds']:.0f} s", flush=True)


def main(argv=None):
    args = parse_args(argv)
    cohort = make_asd_cohort(n_asd=(args.n_train + args.n_test + 1) // 2,
                             n_control=(args.n_train + args.n_test) // 2,
                             difficulty=args.difficulty, random_state=args.seed)
    data = train_test_split(cohort.data, cohort.target, train_size=args.n_train,
                            test_size=args.n_test, stratify=cohort.target,
                            random_state=args.seed)
    X_train, X_test, y_train, y_test = data
    upper = np.triu_indices(cohort.data.shape[1], k=1)
    white_box = LogisticRegression(max_iter=1000).fit(X_train[:, upper[0], upper[1]], y_train)
    preprocessing = zoo.load(MODEL, image_size=args.image_size)  # scale, mean and std

    print(f"SIMULATED ASD cohort (difficulty {args.difficulty:g}): {args.n_train} training "
          f"and {args.n_test} test subjects, 200x200 correlation matrices resized to "
          f"{args.embed_size}x{args.embed_size} on a {args.image_size}x{args.image_size} canvas.")
    print(f"Source model: {MODEL} (ImageNet) behind a v2 prediction API; label_map='random', "
          f"m={args.m}, {args.steps} steps of {args.batch_size} subjects per fit.")

    with local_api(args) if args.url is None else existing_api(args.url) as server:
        full = api_oracle(server.url, MODEL, preprocessing)
        rows = []
        for q in args.q:
            rows.append({"q": q, "answers": "full vector",
                         **reprogram(full, q, data, args)})
            _report(rows[-1])
        if args.top_k:
            q = args.top_k_q or sorted(args.q)[len(args.q) // 2]
            top_k = api_oracle(server.url, f"{MODEL}-top{args.top_k}", preprocessing,
                               TopKResponse(LABELS))
            rows.append({"q": q, "answers": f"top-{args.top_k} labels",
                         **reprogram(top_k, q, data, args)})
            _report(rows[-1])
        received = server.images_received()

    print()
    print(f"{'q':>3}  {'API answers':<14} {'queries':>8} {'test accuracy':>14} "
          f"{'cost (USD)':>11}")
    for row in rows:
        print(f"{row['q']:>3}  {row['answers']:<14} {row['queries']:>8,d} "
              f"{row['accuracy']:>14.3f} {row['cost']:>11.2f}")
    print(f"\nCost at an ASSUMED ${args.price:.2f} per 1,000 queries (training queries; "
          f"each test evaluation sent {args.n_test} more).")
    print(f"For reference, no API: logistic regression on the matrices' upper triangles "
          f"{white_box.score(X_test[:, upper[0], upper[1]], y_test):.3f}; the majority class "
          f"{max(np.mean(y_test), 1 - np.mean(y_test)):.3f}.")
    if received is not None:
        paid = sum(row["queries"] for row in rows)
        evaluated = len(rows) * args.n_test
        print(f"The server received {received:,d} images: {paid:,d} in fits (n_queries_) "
              f"+ {evaluated:,d} in test evaluations"
              + (" -- the books match." if received == paid + evaluated else
                 " -- MISMATCH."))
    return 0


if __name__ == "__main__":
    sys.exit(main())
