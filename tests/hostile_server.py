"""A v2 model server in a thread of the test process, told how to misbehave.

Python's ``http.server``, no dependency: it answers model metadata and inference
requests as the Open Inference Protocol does, and, when a test says so, echoes the
caller's key in its error text, drips its answer a byte at a time, floods the client
with an endless body, answers slowly, answers outputs the metadata does not list, or
declares a model no client should believe.
"""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

MODEL = "tiny"


class HostileServer:
    """The server; set ``behaviour`` (and ``metadata``) before a request.

    Parameters
    ----------
    key : str, optional
        When set, a request without ``Authorization: Bearer <key>`` gets HTTP 401.
    canvas : tuple of int
        ``(H, W, C)`` of the model's NHWC input.
    n_classes : int

    Attributes
    ----------
    behaviour : dict
        ``{"mode": ...}`` with mode one of ``"ok"`` (default), ``"echo"`` (HTTP
        ``status`` with ``{"error": prefix + the Authorization header + suffix}``),
        ``"raw"`` (HTTP ``status``, default 200, with ``body`` as it is and the
        ``headers`` given), ``"drip_body"`` and ``"drip_headers"`` (one byte every
        ``interval`` seconds), ``"flood"`` (an endless body, ``declared`` bytes
        announced when given); ``"scores"``: a function of the batch giving the
        answer's scores; ``"delay"``: seconds to wait before answering; ``"extra"``:
        the width of an output ``"extra"`` answered before the scores.
    authorizations : list of str
        The Authorization header of every request.
    images : int
        Images received in inference requests.
    arrivals : list of float
        ``time.monotonic()`` when each inference request had been read.
    paths : list of str
        The path (and query) of every request.
    """

    def __init__(self, key=None, canvas=(8, 8, 3), n_classes=4):
        self.key = key
        self.canvas = tuple(canvas)
        self.n_classes = n_classes
        self.behaviour = {"mode": "ok"}
        self.metadata = None
        self.authorizations = []
        self.images = 0
        self.arrivals = []
        self.paths = []
        self._httpd = None

    @property
    def url(self):
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self):
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()
        return self

    def stop(self):
        self._httpd.shutdown()
        self._httpd.server_close()

    def default_metadata(self):
        h, w, c = self.canvas
        return {"name": MODEL,
                "inputs": [{"name": "x", "datatype": "FP32", "shape": [-1, h, w, c]}],
                "outputs": [{"name": "probs", "datatype": "FP32",
                             "shape": [-1, self.n_classes]}]}

    def default_scores(self, x):
        # A fixed function of each image: the same image gets the same answer.
        logits = np.stack([x.reshape(len(x), -1).mean(axis=1) * (k + 1)
                           for k in range(self.n_classes)], axis=1)
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)


class _Handler(BaseHTTPRequestHandler):
    owner = None  # the HostileServer, set by a subclass

    def log_message(self, *args):  # quiet
        pass

    def _send_json(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorised(self):
        self.owner.paths.append(self.path)
        auth = self.headers.get("Authorization", "")
        self.owner.authorizations.append(auth)
        if self.owner.key is not None and auth != f"Bearer {self.owner.key}":
            self._send_json(401, {"error": "invalid or missing API key"})
            return False
        return True

    def do_GET(self):
        if not self._authorised():
            return
        self._send_json(200, self.owner.metadata or self.owner.default_metadata())

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        request = json.loads(self.rfile.read(length))
        if not self._authorised():
            return
        tensor = request["inputs"][0]
        x = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
        self.owner.images += len(x)
        self.owner.arrivals.append(time.monotonic())
        behaviour = self.owner.behaviour
        mode = behaviour.get("mode", "ok")
        time.sleep(behaviour.get("delay", 0))
        if mode == "echo":
            text = behaviour.get("prefix", "") + self.headers.get("Authorization", "") \
                + behaviour.get("suffix", "")
            self._send_json(behaviour.get("status", 400), {"error": text})
        elif mode == "raw":
            body = behaviour["body"]
            self.send_response(behaviour.get("status", 200))
            for name, value in behaviour.get("headers", {}).items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif mode in ("drip_body", "drip_headers"):
            self._drip(mode, behaviour.get("interval", 0.2), behaviour.get("length", 200))
        elif mode == "flood":
            self._flood(behaviour.get("declared"))
        else:
            scores = behaviour.get("scores", self.owner.default_scores)(x)
            outputs = [{"name": "probs", "datatype": "FP32", "shape": list(scores.shape),
                        "data": np.asarray(scores, dtype=float).ravel().tolist()}]
            if behaviour.get("extra"):
                extra = np.ones((len(x), behaviour["extra"]))
                outputs.insert(0, {"name": "extra", "datatype": "FP32",
                                   "shape": list(extra.shape), "data": extra.ravel().tolist()})
            self._send_json(200, {"model_name": MODEL, "outputs": outputs})

    def _drip(self, mode, interval, length):
        head = (f"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {length}\r\n\r\n").encode()
        body = b" " * length
        try:
            if mode == "drip_headers":
                for i in range(len(head)):
                    self.wfile.write(head[i:i + 1])
                    self.wfile.flush()
                    time.sleep(interval)
                return
            self.wfile.write(head)
            for i in range(length):
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
                time.sleep(interval)
        except OSError:  # the client gave up: what the test wants
            pass

    def _flood(self, declared):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if declared is not None:
            self.send_header("Content-Length", str(declared))
        self.end_headers()
        chunk = b"[" * 2**20
        try:
            for _ in range(300):  # 300 MiB, unless the client stops reading first
                self.wfile.write(chunk)
        except OSError:
            pass
