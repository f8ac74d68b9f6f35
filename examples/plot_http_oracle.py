"""
====================================
Reprogram a model behind an HTTP API
====================================

The paper reprogrammed models it could reach only through paid prediction APIs.
:class:`skbar.HttpOracle` sends canvases to any server that speaks the Open Inference
Protocol (KServe's "v2" REST API: ``GET /v2/models/{name}`` for the metadata, ``POST
/v2/models/{name}/infer`` for predictions) and counts every image it sends against the
budget; :class:`~skbar.callbacks.QueryCost` turns the queries into money.

So that the example runs anywhere, it starts its own small v2 server on 127.0.0.1, in a
thread, with the built-in model at 32 pixels behind it. Point ``HttpOracle`` at your
provider's URL instead (:doc:`/http` says how, with keys, retries and rate limits).
Needs the ``http`` extra (``httpx``).
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from skbar import zoo

model = zoo.load("efficientnet-lite0", image_size=32)
METADATA = {
    "name": "lite0",
    "inputs": [{"name": "input", "datatype": "FP32", "shape": [-1, 32, 32, 3]}],
    "outputs": [{"name": "probabilities", "datatype": "FP32", "shape": [-1, 1000]}],
}


class V2Handler(BaseHTTPRequestHandler):
    """Just enough of the v2 protocol, in JSON: the model's metadata and ``infer``."""

    def _answer(self, payload):
        body = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        self._answer(METADATA)

    def do_POST(self):
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        tensor = request["inputs"][0]
        canvases = np.asarray(tensor["data"], dtype=np.float32).reshape(tensor["shape"])
        proba = model.predict_proba(canvases)
        self._answer({"model_name": "lite0", "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": list(proba.shape),
             "data": proba.ravel().tolist()}]})

    def log_message(self, *args):  # quiet
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), V2Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_port}"

# %%
# Reprogram it through the API
# ----------------------------
# ``label_map="random"`` costs no query before the search, as the paper did for APIs; the
# price is an assumption, $1.20 per 1,000 images.
from sklearn.datasets import load_digits

import warnings

from skbar import BlackBoxReprogrammingClassifier, HttpOracle, ProbeShippedWarning
from skbar.callbacks import QueryCost

# At 800 queries the search may read no better than the grey frame; the fit then ships
# the grey frame and says so with a ProbeShippedWarning (search_check_ keeps the figures).
warnings.simplefilter("ignore", ProbeShippedWarning)

X, y = load_digits(n_class=2, return_X_y=True)
api = HttpOracle(url, "lite0", max_batch_size=64, max_concurrency=2)
cost = QueryCost(per_1000=1.20)
clf = BlackBoxReprogrammingClassifier(
    api, sample_shape=(8, 8), embed_size=24, label_map="random", max_queries=800,
    max_iter=10**6, callbacks=[cost], random_state=0)
clf.fit(X[:100], y[:100])
print(f"accuracy {clf.score(X[100:200], y[100:200]):.3f}; the fit sent "
      f"{clf.n_queries_:,d} images, ${cost.cost_:.2f} at $1.20 per 1,000")
print("shipped:", "the searched program" if clf.search_check_ is None
      or clf.search_check_["kept"] == "searched" else "the grey frame (the probe)")

# %%
# The program learned through the API.
from skbar.plotting import ReprogrammingDisplay

ReprogrammingDisplay.from_estimator(clf, X[100:104], y[100:104]).figure_.tight_layout()
server.shutdown()
