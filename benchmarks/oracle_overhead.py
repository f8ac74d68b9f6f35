"""How much skbar adds on top of the model: measured in one run, printed as ratios.

1. ``OnnxOracle.predict_proba`` against a bare ``onnxruntime.InferenceSession.run`` on the
   same batches (the bare run is handed inputs already in the model's layout and
   normalisation; the oracle does that work itself, from ``[0, 1]`` NHWC canvases).
2. The share of a fit's wall time spent outside the oracle: skbar's own NumPy work
   (program, canvases, mapping, loss, estimator, optimiser).

Usage::

    python benchmarks/oracle_overhead.py [--image-size 128] [--providers CPUExecutionProvider]
"""

import argparse
import platform
import time

import numpy as np


def _best_of(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet-lite0")
    parser.add_argument("--image-size", type=int, default=None)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fit-queries", type=int, default=6000)
    parser.add_argument("--providers", nargs="*", default=None)
    args = parser.parse_args()

    import onnxruntime as ort
    from sklearn.datasets import load_digits

    from skbar import PAPER_BAR, BlackBoxReprogrammingClassifier, zoo

    oracle = zoo.load(args.model, image_size=args.image_size, providers=args.providers,
                      batch_size=args.batch)
    H, W, C = oracle.input_shape
    rng = np.random.RandomState(0)
    canvases = [rng.rand(args.batch, H, W, C).astype(np.float32) for _ in range(args.batches)]
    oracle.predict_proba(canvases[0])  # open the session, warm up
    session = oracle._session  # the very same session, so only our wrapping differs
    name = session.get_inputs()[0].name
    prepared = [oracle._adapter.to_model(c) for c in canvases]
    session.run(None, {name: prepared[0]})

    bare = _best_of(lambda: [session.run(None, {name: x}) for x in prepared], args.repeats)
    wrapped = _best_of(lambda: [oracle.predict_proba(c) for c in canvases], args.repeats)
    n_images = args.batch * args.batches

    # Fit time inside and outside the oracle.
    inside = [0.0]

    class Timed:
        input_shape = oracle.input_shape
        n_classes = oracle.n_classes

        def predict_proba(self, x):
            start = time.perf_counter()
            out = oracle.predict_proba(x)
            inside[0] += time.perf_counter() - start
            return out

    X, y = load_digits(return_X_y=True)
    shares = {}
    for name, extra in (("BAR as published (skbar.PAPER_BAR)", PAPER_BAR),
                        ("skbar defaults (learned head, SPSA-GC)", {})):
        inside[0] = 0.0
        clf = BlackBoxReprogrammingClassifier(
            Timed(), sample_shape=(8, 8), embed_size=int(0.75 * H), label_map="random",
            max_iter=10**9, max_queries=args.fit_queries, random_state=0, **extra)
        start = time.perf_counter()
        clf.fit(X[:300], y[:300])
        fit = time.perf_counter() - start
        shares[name] = (clf.n_queries_, fit, 1 - inside[0] / fit)

    print(f"machine: {platform.processor() or platform.machine()}, "
          f"providers {session.get_providers()}, onnxruntime {ort.__version__}")
    print(f"model: {args.model} at {H}x{W}, batch {args.batch} x {args.batches}, "
          f"best of {args.repeats}")
    print(f"bare InferenceSession.run: {n_images / bare:8.1f} img/s")
    print(f"OnnxOracle.predict_proba:  {n_images / wrapped:8.1f} img/s")
    print(f"oracle overhead vs bare ONNX Runtime: {wrapped / bare - 1:+.1%}")
    for name, (queries, fit, share) in shares.items():
        print(f"fit, {name}: {queries} queries in {fit:.1f} s, of which outside the oracle "
              f"(skbar's own work): {share:.1%}")


if __name__ == "__main__":
    main()
