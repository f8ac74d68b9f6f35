"""Scale: peak memory of fit and predict against n, and queries per second against Dask workers.

1. Memory. Digits (8x8 bytes, tiled to n images) upsampled to 112 px on a 224 px RGB
   canvas, an oracle that costs nothing and answers 1,000 classes (a strided read of each
   canvas), 3 steps. Each measurement runs in a fresh child process and reports the
   growth of its resident set (its peak, ``VmHWM``, reset just before the call, minus
   the RSS then, read from ``/proc/self``), so only skbar's own memory shows; ``X``
   itself (64 bytes an image) is made before. ``predict`` is measured after a fit on 200 images.
2. Throughput. :class:`skbar.oracles.DaskOracle` on a ``LocalCluster`` (threads, one per
   worker) with 1, 2 and 4 workers, sending batches of 64 canvases through the
   :class:`~skbar.oracles.QueryCounter` a fit uses: a latency-bound oracle (a remote API
   that takes 16 images a request, each request waiting 50 ms) and ONNX Runtime (``skbar.zoo.load(image_size=96)``, one
   intra-op thread per replica). Ratios are to one worker, in the same run.

Usage::

    python benchmarks/scale.py [--n 1000 5000 20000 50000] [--workers 1 2 4] [--batches 8]
                               [--batch 64]
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

CANVAS = (224, 224, 3)


def _rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _reset_peak():
    # So that a prediction's peak is its own, not that of the fit before it.
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _peak_mib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM")) / 1024


#: Scores per answer: an ImageNet model's 1,000 classes, as users' models answer.
N_CLASSES = 1000


def _cheap_scores(canvases):
    # 1,000 scores a canvas from a 32x32 strided read: costs nothing next to skbar's work.
    return np.exp(4 * canvases[:, ::7, ::7, 0].reshape(len(canvases), -1)[:, :N_CLASSES])


def _digits(n):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    idx = np.arange(n) % len(X)
    return X[idx].astype(np.uint8), y[idx]


def _child(phase, n):
    """One measurement, in this (fresh) process: prints a JSON line."""
    from skbar import BlackBoxReprogrammingClassifier
    from skbar.oracles import FunctionOracle

    X, y = _digits(n)
    clf = BlackBoxReprogrammingClassifier(FunctionOracle(_cheap_scores, CANVAS), embed_size=112,
                                          max_iter=3, random_state=0)
    if phase == "predict":
        clf.fit(*_digits(200))
    _reset_peak()
    before = _rss_mib()
    start = time.perf_counter()
    if phase == "fit":
        clf.fit(X, y)
    else:
        clf.predict(X)
    seconds = time.perf_counter() - start
    print(json.dumps({"growth": _peak_mib() - before, "seconds": seconds}))


def _measure(phase, n):
    out = subprocess.run([sys.executable, __file__, "--child", phase, str(n)], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory_table(sizes):
    whole = {n: n * 112 * 112 * 3 * 4 / 2**20 for n in sizes}
    kept = {n: n * N_CLASSES * 4 / 2**20 for n in sizes}  # the answers a fit keeps
    print("\n| training images | fit: peak RSS growth | of which the kept answers (float32) "
          "| fit: the rest | predict: peak RSS growth | fit seconds "
          "| the resized samples alone, float32 |")
    print("|---|---|---|---|---|---|---|")
    for n in sizes:
        fit, predict = _measure("fit", n), _measure("predict", n)
        print(f"| {n:,} | +{fit['growth']:.0f} MiB | {kept[n]:.0f} MiB "
              f"| +{fit['growth'] - kept[n]:.0f} MiB | +{predict['growth']:.0f} MiB "
              f"| {fit['seconds']:.1f} | {whole[n]:,.0f} MiB |", flush=True)


class SleepingOracle:
    """A remote API's latency: it takes ``per_request`` images a request, and every request
    waits ``seconds``, one after another (as a client with one connection sends them)."""

    def __init__(self, seconds=0.05, per_request=16, n_classes=1000, input_shape=(96, 96, 3)):
        self.seconds, self.per_request = seconds, per_request
        self.n_classes, self.input_shape = n_classes, input_shape
        self.n_images = 0

    def predict_proba(self, canvases):
        time.sleep(self.seconds * -(-len(canvases) // self.per_request))
        self.n_images += len(canvases)
        return np.full((len(canvases), self.n_classes), 1.0 / self.n_classes)


def _queries_per_second(make_oracle, workers, batches, batch=64):
    from distributed import Client, LocalCluster

    from skbar.oracles import DaskOracle, QueryCounter
    from skbar.oracles._dask import _REPLICAS

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        oracle = DaskOracle(make_oracle(), client=client)
        counter = QueryCounter(oracle)
        canvases = np.random.RandomState(0).rand(batch, *oracle.input_shape).astype(np.float32)
        counter(canvases)  # each worker builds its replica (a session) first
        counter.n_queries = 0
        replicas = [r for key, r in _REPLICAS.items() if key[0] == oracle._token]
        for replica in replicas:
            replica.n_images = 0
        start = time.perf_counter()
        for _ in range(batches):
            counter(canvases)
        seconds = time.perf_counter() - start
        received = sum(replica.n_images for replica in replicas)
        oracle.close()
    return counter.n_queries / seconds, counter.n_queries, received


class _CountingOnnx:
    """``skbar.zoo.load(image_size=96)``, counting what it answers (built on each worker)."""

    def __init__(self):
        from skbar.zoo import load

        self.model = load(image_size=96, n_threads=1)
        self.input_shape, self.n_classes = self.model.input_shape, self.model.n_classes
        self.n_images = 0

    def predict_proba(self, canvases):
        self.n_images += len(canvases)
        return self.model.predict_proba(canvases)


def throughput_table(workers, batches, batch):
    print("\n| oracle | workers | queries / s | ratio to 1 worker | counted = received |")
    print("|---|---|---|---|---|")
    for name, make in [("remote API, 50 ms a request", SleepingOracle), ("ONNX Runtime, 96 px", _CountingOnnx)]:
        base = None
        for k in workers:
            rate, counted, received = _queries_per_second(make, k, batches, batch)
            base = base or rate
            print(f"| {name} | {k} | {rate:,.0f} | {rate / base:.2f}x "
                  f"| {counted:,} = {received:,} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, nargs="*", default=[1000, 5000, 20000, 50000])
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64, help="canvases per oracle call")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return _child(args.child[0], int(args.child[1]))
    print(f"# {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, numpy {np.__version__}")
    if not args.skip_memory:
        memory_table(args.n)
    if not args.skip_throughput:
        throughput_table(args.workers, args.batches, args.batch)


if __name__ == "__main__":
    main()
