"""A real Open Inference Protocol (v2) server for skbar's HTTP oracle tests.

KServe's own model server (``kserve.Model`` + its FastAPI/uvicorn REST stack, binary
tensor extension included) serves ONNX image classifiers through ONNX Runtime. In
front of it sits a small ASGI layer playing the part of the paid API's gateway:

* it counts every image that reaches the server, appending one line per inference
  request to ``--count-file`` (a file, so counts survive the server being killed);
* it checks the API key when ``SKBAR_TEST_SERVER_KEY`` is set (401 otherwise);
* it injects faults queued through ``POST /_faults``: error statuses (with
  ``Retry-After``, or echoing the ``Authorization`` header back as a careless API
  would), slow answers, malformed JSON, answers of the wrong shape;
* it records the most inference requests in flight at once (``GET /_stats``) and can
  add latency to each request, so tests can see requests overlap.

Run it with the interpreter of the server virtualenv (``scripts/setup_test_server.sh``)::

    tests/servers/.venv/bin/python tests/servers/kserve_runtime.py --port 8080 \
        --model tiny=/tmp/tiny.onnx --count-file /tmp/count.txt

This file runs in that virtualenv only: it imports nothing from skbar.
"""

import argparse
import asyncio
import json
import os

import numpy as np


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--model", action="append", required=True,
                        help="NAME=PATH.onnx; NAME may end in ':topK' to answer only the "
                             "top K labels and scores, as two tensors.")
    parser.add_argument("--count-file", required=True)
    parser.add_argument("--softmax", action="store_true",
                        help="Answer probabilities from models that output logits (a softmax "
                             "over their output), as a paid API does.")
    return parser.parse_args(argv)


def build_model(name, path, top_k=None, softmax=False):
    """A ``kserve.Model`` running ``path`` with ONNX Runtime (a softmax after it if asked)."""
    import kserve
    import onnxruntime as ort
    from kserve import InferOutput, InferResponse

    class OnnxClassifier(kserve.Model):
        """Full probability vectors, or the top-k labels when asked.

        Implements Triton's classification extension: an output requested with
        ``parameters: {"classification": k}`` comes back as a BYTES tensor of
        ``"score:index:label"`` strings. With ``top_k`` set, the model only ever answers
        two tensors, ``labels`` (BYTES) and ``scores`` (FP32), like APIs that name
        their top guesses and nothing else.
        """

        def __init__(self):
            super().__init__(name)
            self.session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
            self.input = self.session.get_inputs()[0]
            self.output = self.session.get_outputs()[0]
            self.n_classes = self.output.shape[-1]
            self.labels = np.array([f"class_{i:02d}" for i in range(self.n_classes)], dtype=object)
            self.ready = True

        def get_input_types(self):
            shape = [d if isinstance(d, int) else -1 for d in self.input.shape]
            return [{"name": self.input.name, "datatype": "FP32", "shape": shape}]

        def get_output_types(self):
            if top_k is not None:
                return [{"name": "labels", "datatype": "BYTES", "shape": [-1, top_k]},
                        {"name": "scores", "datatype": "FP32", "shape": [-1, top_k]}]
            return [{"name": self.output.name, "datatype": "FP32", "shape": [-1, self.n_classes]}]

        def predict(self, payload, headers=None):
            x = payload.inputs[0].as_numpy().astype(np.float32, copy=False)
            probs = self.session.run(None, {self.input.name: x})[0]
            if softmax:
                e = np.exp(probs - probs.max(axis=1, keepdims=True))
                probs = e / e.sum(axis=1, keepdims=True)
            requested = {o.name: o for o in (payload.request_outputs or [])}
            outputs = []
            if top_k is not None:
                order = np.argsort(-probs, axis=1, kind="stable")[:, :top_k]
                labels = self.labels[order]
                scores = np.take_along_axis(probs, order, axis=1).astype(np.float32)
                for out_name, arr, dtype in (("labels", labels, "BYTES"), ("scores", scores, "FP32")):
                    out = InferOutput(out_name, list(arr.shape), dtype)
                    out.set_data_from_numpy(arr, binary_data=False)
                    outputs.append(out)
            else:
                req = requested.get(self.output.name)
                k = int((req.parameters or {}).get("classification", 0)) if req else 0
                if k > 0:
                    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
                    arr = np.array(
                        [[f"{float(probs[i, j])!r}:{j}:{self.labels[j]}" for j in row]
                         for i, row in enumerate(order)], dtype=object)
                    out = InferOutput(self.output.name, list(arr.shape), "BYTES")
                else:
                    arr = probs.astype(np.float32)
                    out = InferOutput(self.output.name, list(arr.shape), "FP32")
                out.set_data_from_numpy(arr, binary_data=False)
                outputs.append(out)
            return InferResponse(
                response_id=payload.id or "", model_name=name, infer_outputs=outputs,
                use_binary_outputs=payload.use_binary_outputs,
                requested_outputs=payload.request_outputs,
            )

    return OnnxClassifier()


class Gateway:
    """ASGI layer in front of KServe's app: counting, auth and fault injection."""

    def __init__(self, app, count_file, api_key=None):
        self.app = app
        self.api_key = api_key
        self.count_fd = os.open(count_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.faults = []
        self.latency = 0.0
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path.startswith("/_"):
            return await self.control(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        if (self.api_key is not None and path.startswith("/v2/models")
                and headers.get("authorization") != f"Bearer {self.api_key}"):
            return await respond(send, 401, {"error": "invalid or missing API key"})
        if not (path.startswith("/v2/models/") and path.endswith("/infer")):
            return await self.app(scope, receive, send)

        body = await read_body(receive)
        # Counted on arrival, before any fault: an image that reached the API is spent.
        os.write(self.count_fd, f"{count_images(body, headers)}\n".encode())
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            if self.latency:
                await asyncio.sleep(self.latency)
            fault = self.faults.pop(0) if self.faults else None
            if fault is not None:
                if fault.get("delay"):
                    await asyncio.sleep(fault["delay"])
                if fault.get("status"):
                    extra = {}
                    if "retry_after" in fault:
                        extra["retry-after"] = str(fault["retry_after"])
                    message = fault.get("error", "injected fault")
                    if fault.get("echo_auth"):
                        message += f" (request had Authorization: {headers.get('authorization')})"
                    return await respond(send, fault["status"], {"error": message}, extra)
                if fault.get("malformed"):
                    return await respond_raw(send, 200, b'{"model_name": "x", "outputs": [{"na',
                                             "application/json")
                if fault.get("wrong_shape"):
                    return await respond(send, 200, {"model_name": "x", "outputs": [
                        {"name": "probs", "datatype": "FP32", "shape": [1, 2], "data": [0.5, 0.5]}]})
            return await self.app(scope, replay(body), send)
        finally:
            self.in_flight -= 1

    async def control(self, scope, receive, send):
        body = await read_body(receive)
        if scope["path"] == "/_faults" and scope["method"] == "POST":
            spec = json.loads(body or b"{}")
            if "latency" in spec:
                self.latency = float(spec["latency"])
            for fault in spec.get("faults", []):
                self.faults.extend([fault] * int(fault.get("times", 1)))
            if spec.get("clear"):
                self.faults.clear()
            return await respond(send, 200, {"queued": len(self.faults)})
        if scope["path"] == "/_stats":
            stats = {"max_in_flight": self.max_in_flight, "queued_faults": len(self.faults)}
            if scope["method"] == "POST":  # reset
                self.max_in_flight = 0
            return await respond(send, 200, stats)
        return await respond(send, 404, {"error": "no such control endpoint"})


def count_images(body, headers):
    """The batch size of a v2 inference request, JSON or binary."""
    try:
        n_json = headers.get("inference-header-content-length")
        header = json.loads(body[: int(n_json)] if n_json else body)
        return int(header["inputs"][0]["shape"][0])
    except (ValueError, KeyError, IndexError, TypeError):  # malformed, but it arrived
        return 1


async def read_body(receive):
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def replay(body):
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()  # as a real client that keeps the connection open

    return receive


async def respond(send, status, payload, extra_headers=None):
    await respond_raw(send, status, json.dumps(payload).encode(), "application/json", extra_headers)


async def respond_raw(send, status, body, content_type, extra_headers=None):
    headers = [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra_headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main(argv=None):
    args = parse_args(argv)
    from kserve import ModelServer
    from kserve.model_server import app
    from kserve.protocol.rest.server import RESTServer

    server = ModelServer(http_port=args.port, enable_grpc=False, workers=1)
    for spec in args.model:
        name, path = spec.split("=", 1)
        top_k = None
        if ":top" in name:
            name, k = name.split(":top")
            top_k = int(k)
        server.register_model(build_model(name, path, top_k, args.softmax))
    rest = RESTServer("kserve.model_server:app", server.dataplane,
                      server.model_repository_extension, args.port)
    # KServe binds 0.0.0.0; tests stay on the loopback interface.
    rest.config.host = args.host
    # The gateway wraps the very app object KServe's REST server fills with its routes.
    rest.config.app = Gateway(app, args.count_file, os.environ.get("SKBAR_TEST_SERVER_KEY"))
    asyncio.run(rest.start())


if __name__ == "__main__":
    main()
