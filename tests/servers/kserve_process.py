"""The KServe test server (kserve_runtime.py) as a subprocess on 127.0.0.1, seen from outside.

Start it, kill it as a crash would, restart it on the same port, read how many images it
has received, queue faults. Used by the HTTP tests and by examples/http_api_asd.py; it
needs httpx and the standard library, nothing from skbar. The server itself runs in the
virtualenv made by ``bash scripts/setup_test_server.sh`` (``SERVER_PYTHON``).
"""

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
RUNTIME = HERE / "kserve_runtime.py"
SERVER_PYTHON = Path(os.environ.get("SKBAR_TEST_SERVER_PYTHON", HERE / ".venv" / "bin" / "python"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class KServeProcess:
    """The v2 server as a subprocess: start, kill -9, restart, count, inject faults.

    Parameters
    ----------
    models : dict
        ``{name: path.onnx}``; a name ending in ``:topK`` answers only its top K labels.
    workdir : path
        Where the count file and the server's log go.
    api_key : str, optional
        The key the server demands (``Authorization: Bearer <key>``); none when None.
    extra_args : sequence of str
        More arguments for kserve_runtime.py, e.g. ``["--softmax"]``.
    """

    def __init__(self, models, workdir, api_key=None, extra_args=()):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.models = dict(models)
        self.api_key = api_key
        self.extra_args = list(extra_args)
        self.count_file = Path(workdir) / "images_received.txt"
        self.log_file = Path(workdir) / "server.log"
        self.proc = None

    def start(self, timeout=60):
        env = {k: v for k, v in os.environ.items()
               if k not in ("SKBAR_API_KEY", "SKBAR_TEST_SERVER_KEY")}
        if self.api_key is not None:
            env["SKBAR_TEST_SERVER_KEY"] = self.api_key
        models = [arg for name, path in self.models.items() for arg in ("--model", f"{name}={path}")]
        with open(self.log_file, "ab") as log:
            self.proc = subprocess.Popen(
                [str(SERVER_PYTHON), str(RUNTIME), "--port", str(self.port), *models,
                 "--count-file", str(self.count_file), *self.extra_args],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"The KServe test server exited:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/v2/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"The KServe test server did not start:\n{self.log_tail()}")

    def kill(self):
        """Die as a crashed server does: SIGKILL, nothing flushed, nothing answered."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def log_tail(self, n=30):
        if not self.log_file.exists():
            return ""
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-n:])

    def images_received(self):
        """Images in every inference request that reached the server, killed ones included."""
        if not self.count_file.exists():
            return 0
        return sum(int(line) for line in self.count_file.read_text().split())

    def control(self, **spec):
        return httpx.post(f"{self.url}/_faults", json=spec, timeout=5).json()

    def inject(self, *faults):
        return self.control(faults=list(faults))

    def stats(self, reset=False):
        method = httpx.post if reset else httpx.get
        return method(f"{self.url}/_stats", timeout=5).json()
