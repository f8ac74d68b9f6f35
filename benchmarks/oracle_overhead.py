"""How much skbar adds on top of the model: measured in one run, printed as ratios.

1. **skbar's own work per query**, with a free oracle (one that answers from a stored
   table, so nothing but skbar runs): a fit with the defaults on scikit-learn's digits
   (898 training images, the sample at three quarters of the canvas) at 128 and 224 px,
   the fastest of three fits.
2. **``OnnxOracle`` against bare ``InferenceSession.run``** on the same batches: the bare
   run is handed inputs already in the model's layout and normalisation and returns
   logits; the oracle returns probabilities, from the same inputs (a
   :class:`~skbar.oracles.ModelInput`, what a fit sends it) or from ``[0, 1]`` NHWC
   canvases (what ``predict_proba`` takes from a user), with the conventions in the
   graph or in NumPy. On a tiny model (an average pool and one matrix product, one
   thread), where the host's work shows, and on EfficientNet-Lite0.
3. **A fit's queries a second against the device's images a second**: against a
   stand-in device that answers in a set time an image while Python runs on (58 µs by
   default, EfficientNet-Lite0 at 128 px on an H200); with the tiny model (one thread)
   and with EfficientNet-Lite0 as the oracle, each against the bare model run at the
   fit's minibatch size. The stand-in and the tiny model are read with and without
   composing the next candidate's canvases while the device answers (``InTurn``). On
   CUDA the oracle composes the canvases on the device (``compose_on_device="auto"``):
   the row says where they were composed.

Rows 2 and 3 run on each ONNX Runtime execution provider present (the CPU; CUDA where
this onnxruntime build has it), the stand-in device once.

The learned head's refits solve linear systems with NumPy's BLAS (OpenBLAS). On a
machine whose cores are busy with other work, OpenBLAS's own threads wait for each other
and a solve can take many times longer than on one thread: run the benchmark with
``OPENBLAS_NUM_THREADS=1`` there (the first line prints the setting).

Usage::

    python benchmarks/oracle_overhead.py             # 20,000 queries a fit
    python benchmarks/oracle_overhead.py --quick     # 3,000 queries a fit, fewer repeats
    OPENBLAS_NUM_THREADS=1 python benchmarks/oracle_overhead.py --quick   # a busy machine
"""

import argparse
import os
import platform
import tempfile
import time
import warnings

import numpy as np

# The EfficientNet-Lite normalisation (skbar.zoo._models): byte values, (x - 127) / 128.
_SCALE, _MEAN, _STD = 255.0, (127.0, 127.0, 127.0), (128.0, 128.0, 128.0)


class StoredAnswers:
    """A free oracle: answers read off a stored table of probabilities, in turn.

    The fit does all of its own work (programs, canvases, mapping, loss, head, optimiser)
    and the oracle costs next to nothing, so the fit's time is skbar's own.
    """

    def __init__(self, size, n_classes=1000, n_stored=8192, seed=0):
        rng = np.random.RandomState(seed)
        logits = 2.0 * rng.randn(n_stored, n_classes)
        answers = np.exp(logits - logits.max(axis=1, keepdims=True))
        self.answers = answers / answers.sum(axis=1, keepdims=True)
        self.input_shape = (size, size, 3)
        self.n_classes = n_classes
        self._next = 0

    def predict_proba(self, canvases):
        n = len(canvases)
        if self._next + n > len(self.answers):
            self._next = 0
        self._next += n
        return self.answers[self._next - n:self._next]


class TimedDevice(StoredAnswers):
    """A stand-in for a fast device: stored answers after ``us_per_image`` microseconds a
    image spent asleep, off Python's lock, as a GPU's run is. With ``releases_gil`` the
    fit composes the next candidate's canvases meanwhile (:class:`skbar.oracles.InTurn`);
    without, it waits for each answer."""

    def __init__(self, size, us_per_image, releases_gil):
        super().__init__(size)
        self.us_per_image, self.releases_gil = us_per_image, releases_gil

    def predict_proba(self, canvases):
        time.sleep(self.us_per_image * 1e-6 * len(canvases))
        return super().predict_proba(canvases)


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    # The demo's split: 898 training images.
    X_train, _, y_train, _ = train_test_split(X, y, test_size=0.5, stratify=y, random_state=0)
    return X_train, y_train


def _fit(oracle, size, queries):
    """Queries, wall and CPU seconds of a fit with the defaults, the sample at 3/4 of the
    canvas."""
    from skbar import BlackBoxReprogrammingClassifier, ProbeShippedWarning

    X, y = _digits()
    clf = BlackBoxReprogrammingClassifier(oracle, sample_shape=(8, 8), embed_size=3 * size // 4,
                                          max_iter=10**9, max_queries=queries, random_state=0)
    start, cpu = time.perf_counter(), time.process_time()
    with warnings.catch_warnings():  # a timing: which program ships is not the question
        warnings.simplefilter("ignore", ProbeShippedWarning)
        clf.fit(X, y)
    return clf.n_queries_, time.perf_counter() - start, time.process_time() - cpu


def _fastest_fit(make_oracle, size, queries):
    """:func:`_fit`'s figures for the fastest of three fits (the same seeded fit each
    time, on ``make_oracle()``): the least disturbed."""
    return min((_fit(make_oracle(), size, queries) for _ in range(3)), key=lambda fit: fit[1])


def _tiny_model(path, size=128, n_classes=1000, seed=0):
    """An ONNX classifier that is almost free: a 16x16 average pool, one matrix product."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    cells = (size // 16) ** 2 * 3
    weights = np.random.RandomState(seed).randn(cells, n_classes).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("AveragePool", ["image"], ["pooled"], kernel_shape=[16, 16],
                          strides=[16, 16]),
         helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
         helper.make_node("MatMul", ["flat", "W"], ["logits"])],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n_classes])],
        initializer=[numpy_helper.from_array(weights, "W")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                                ir_version=8), path)
    return path


def _bare_session(path, providers, n_threads):
    import onnxruntime as ort

    options = ort.SessionOptions()
    if n_threads is not None:
        options.intra_op_num_threads = n_threads
    return ort.InferenceSession(path, options, providers=providers)


def _against_bare(oracle, providers, n_threads, batch, n_batches, repeats, model_input=False):
    """Images a second through bare ``InferenceSession.run`` and through the oracle.

    Both see the same batches; the bare session gets them already transposed and
    normalised, and so does the oracle with ``model_input`` (a
    :class:`~skbar.oracles.ModelInput`, as a fit composes them), else ``[0, 1]`` NHWC
    canvases. Each batch is run by the two in turn, ``repeats`` times, and each keeps its
    fastest time per batch: what a machine shared with other work leaves least
    disturbed. Also returns the ratio of the two in CPU time (the process's, all threads),
    which waiting for a busy core does not inflate.
    """
    from skbar.oracles import ModelInput

    session = _bare_session(oracle.path, providers, n_threads)
    name = session.get_inputs()[0].name
    H, W, C = oracle.input_shape
    rng = np.random.RandomState(0)
    canvases = [rng.rand(batch, H, W, C).astype(np.float32) for _ in range(n_batches)]
    prepared = [np.ascontiguousarray(((c * _SCALE - np.float32(_MEAN)) / np.float32(_STD))
                                     .transpose(0, 3, 1, 2), dtype=np.float32)
                for c in canvases]
    if model_input:
        canvases = [ModelInput(x) for x in prepared]
    session.run(None, {name: prepared[0]})  # warm up both
    oracle.predict_proba(canvases[0])
    # Fastest wall time and CPU time per batch: [bare, oracle] x [wall, CPU].
    best = np.full((2, 2, n_batches), np.inf)
    for _ in range(repeats):
        for i, (x, c) in enumerate(zip(prepared, canvases)):
            for who, run in enumerate((lambda: session.run(None, {name: x}),
                                       lambda: oracle.predict_proba(c))):
                start, cpu = time.perf_counter(), time.process_time()
                run()
                best[who, :, i] = np.minimum(best[who, :, i],
                                             (time.perf_counter() - start,
                                              time.process_time() - cpu))
    n_images = batch * n_batches
    (bare, bare_cpu), (wrapped, wrapped_cpu) = n_images / best.sum(axis=2)
    return bare, wrapped, wrapped_cpu / bare_cpu


def _bare_alone(path, providers, n_threads, batch, n_batches, repeats):
    """Images a second through bare ``InferenceSession.run`` with no other session running
    in between: what a fit's one session is read against. (ONNX Runtime's threads spin
    for a while after each run; two sessions run in turn slow each other down.)"""
    session = _bare_session(path, providers, n_threads)
    name = session.get_inputs()[0].name
    shape = [batch] + list(session.get_inputs()[0].shape[1:])  # the zoo's: fixed sizes
    rng = np.random.RandomState(0)
    inputs = [rng.rand(*shape).astype(np.float32) for _ in range(n_batches)]
    session.run(None, {name: inputs[0]})  # warm up
    best = np.full(n_batches, np.inf)
    for _ in range(repeats):
        for i, x in enumerate(inputs):
            start = time.perf_counter()
            session.run(None, {name: x})
            best[i] = min(best[i], time.perf_counter() - start)
    return batch * n_batches / best.sum()


def _providers_present():
    import onnxruntime as ort

    available = ort.get_available_providers()
    present = [["CPUExecutionProvider"]]
    if "CUDAExecutionProvider" in available:
        present.append(["CUDAExecutionProvider", "CPUExecutionProvider"])
    return present


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="3,000 queries a fit, 3 repeats, 2 batches (about a minute)")
    parser.add_argument("--queries", type=int, default=None,
                        help="queries a fit (20,000; 3,000 with --quick)")
    parser.add_argument("--model-queries", type=int, default=None,
                        help="queries of the fit on EfficientNet-Lite0 (as --queries)")
    parser.add_argument("--image-size", type=int, default=128,
                        help="EfficientNet-Lite0's input resolution")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--batches", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None,
                        help="ONNX Runtime's threads for EfficientNet-Lite0 (its default)")
    parser.add_argument("--compose-on-device", choices=["auto", "on", "off"], default="auto",
                        help="where the fit on EfficientNet-Lite0 composes its canvases "
                             "(OnnxOracle's compose_on_device; auto: on CUDA)")
    parser.add_argument("--device-us", type=float, default=58.0,
                        help="the stand-in device's microseconds an image (58: "
                             "EfficientNet-Lite0 at 128 px on an H200)")
    parser.add_argument("--providers", nargs="*", default=None,
                        help="one provider list to run instead of each present, e.g. "
                             "CUDAExecutionProvider CPUExecutionProvider")
    args = parser.parse_args()
    queries = args.queries or (3000 if args.quick else 20000)
    repeats = args.repeats or (3 if args.quick else 5)
    n_batches = args.batches or (2 if args.quick else 4)

    import onnxruntime as ort

    from skbar import BlackBoxReprogrammingClassifier, OnnxOracle, zoo

    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"onnxruntime {ort.__version__}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}; "
          f"{queries} queries a fit, batches of {args.batch} "
          f"x {n_batches}, each batch's best of {repeats} (of {5 * repeats} on the tiny model)")

    print("\nskbar's own work, free oracle (stored answers), digits, defaults:")
    _fit(StoredAnswers(32), 32, 2000)  # imports and first calls, outside the timings
    for size in (128, 224):
        spent, seconds, cpu = _fastest_fit(lambda: StoredAnswers(size), size, queries)
        print(f"  {size} px canvas, {3 * size // 4} px sample: {spent} queries in "
              f"{seconds:.2f} s, {1e6 * seconds / spent:6.1f} us a query "
              f"({spent / seconds:,.0f} queries/s; CPU time {1e6 * cpu / spent:.1f} us; "
              "fastest of 3 fits)")

    # A device as fast as an H200 runs EfficientNet-Lite0 at 128 px (17,276 images a
    # second bare, docs/results.md): what a fit reaches there, composing while the
    # device answers and not.
    us = args.device_us
    print(f"\na device answering {us:g} us an image (asleep off Python's lock), digits, "
          f"128 px, defaults:")
    for overlap, how in ((True, "composing while it answers"), (False, "waiting for each answer")):
        spent, seconds, _ = _fastest_fit(lambda: TimedDevice(128, us, overlap), 128,
                                         queries)
        print(f"  {how}: {spent / seconds:9.1f} queries/s, {1e6 * seconds / spent:6.1f} us a "
              f"query; ratio {spent / seconds * us * 1e-6:.2f} of the device alone "
              "(fastest of 3 fits)")

    provider_lists = [args.providers] if args.providers else _providers_present()
    with tempfile.TemporaryDirectory() as folder:
        tiny_path = _tiny_model(os.path.join(folder, "tiny.onnx"))
        for providers in provider_lists:
            label = providers[0].replace("ExecutionProvider", "")
            print(f"\n{label} (providers {providers}):")
            for fuse, model_input, where in (
                    (True, True, "canvases in the model's convention (a fit's)"),
                    (True, False, "[0, 1] NHWC canvases, conventions in the graph"),
                    (False, False, "[0, 1] NHWC canvases, conventions in NumPy")):
                tiny = OnnxOracle(tiny_path, providers=providers, scale=_SCALE, mean=_MEAN,
                                  std=_STD, output="logits", batch_size=args.batch,
                                  n_threads=1, fuse_preprocessing=fuse)
                bare, wrapped, cpu = _against_bare(tiny, providers, 1, args.batch, n_batches,
                                                   5 * repeats, model_input)
                print(f"  tiny model, 128 px, 1 thread, {where}: bare {bare:9.1f} img/s, "
                      f"OnnxOracle {wrapped:9.1f} img/s, ratio {wrapped / bare:.2f} "
                      f"(in CPU time {cpu:.2f})")
            # A fit on the tiny model: its answers as fast as skbar's own work, as a GPU's.
            fit_batch = BlackBoxReprogrammingClassifier(tiny).batch_size
            bare = _bare_alone(tiny_path, providers, 1, fit_batch, n_batches, 5 * repeats)
            for overlap, how in ((True, "composing while it answers"),
                                 (False, "waiting for each answer")):
                tiny = OnnxOracle(tiny_path, providers=providers, scale=_SCALE, mean=_MEAN,
                                  std=_STD, output="logits", batch_size=args.batch,
                                  n_threads=1)
                tiny.releases_gil = overlap
                spent, seconds, _ = _fastest_fit(lambda: tiny, 128, queries)
                print(f"  fit on the tiny model, 128 px, 1 thread, {how}: "
                      f"{spent / seconds:9.1f} queries/s; bare at batches of {fit_batch} "
                      f"{bare:9.1f} img/s; ratio {spent / seconds / bare:.2f} (fastest of 3)")
            lite = zoo.load("efficientnet-lite0", image_size=args.image_size,
                            providers=providers, batch_size=args.batch, n_threads=args.threads)
            size = lite.input_shape[0]
            for model_input, where in ((True, "a fit's canvases"), (False, "[0, 1] NHWC")):
                bare, wrapped, cpu = _against_bare(lite, providers, args.threads, args.batch,
                                                   n_batches, repeats, model_input)
                print(f"  EfficientNet-Lite0, {size} px, {where}: bare {bare:9.1f} img/s, "
                      f"OnnxOracle {wrapped:9.1f} img/s, ratio {wrapped / bare:.2f} "
                      f"(in CPU time {cpu:.2f})")
            # The fit sends the estimator's minibatch at a time: the bare model at that
            # batch size is what it is read against.
            fit_batch = BlackBoxReprogrammingClassifier(lite).batch_size
            del lite  # its sessions, before the bare one runs alone
            compose = {"auto": "auto", "on": True, "off": False}[args.compose_on_device]
            lite = zoo.load("efficientnet-lite0", image_size=args.image_size,
                            providers=providers, batch_size=args.batch, n_threads=args.threads,
                            compose_on_device=compose)
            bare = _bare_alone(lite.path, providers, args.threads, fit_batch, n_batches,
                               repeats)
            spent, seconds, _ = _fit(lite, size, args.model_queries or queries)
            where = "on the device" if lite.composes_on_device else "here"
            print(f"  fit on EfficientNet-Lite0, {size} px, canvases composed {where}: "
                  f"{spent} queries in {seconds:.1f} s, "
                  f"{spent / seconds:9.1f} queries/s; bare at batches of {fit_batch} "
                  f"{bare:9.1f} img/s; ratio {spent / seconds / bare:.2f}")


if __name__ == "__main__":
    main()
