"""OCI Data Science's conda (DEFAULT environment) model-deployment runtime on loopback: what a model deployment's
instance does with a model artifact, without OCI. Used by tests/python/oci_fixtures.py (`oci_runtime`) as the
backend of the Data Science stand-in (tests/servers/oci_datascience.py).

    runtime = CondaRuntime(artifact_dir, env={"A": "1"}).start()   # the unzipped artifact
    runtime.predict_url      # http://127.0.0.1:PORT/predict (the port picked by the kernel)
    runtime.stop()

What the service requires of an artifact, checked before anything runs (ArtifactError, with the reason):
  * `runtime.yaml` and `score.py` at the artifact's root (not in a sub-folder: the zip's root is the root);
  * runtime.yaml: MODEL_ARTIFACT_VERSION, MODEL_DEPLOYMENT.INFERENCE_CONDA_ENV with INFERENCE_ENV_PATH (an
    oci:// URI of the conda pack) and INFERENCE_PYTHON_VERSION as a string ('3.11'; an unquoted 3.10 reads as
    the float 3.1, which the service refuses).
The conda pack itself is not installed: score.py runs in `python` (default: this interpreter, sys.executable,
whose site-packages must hold what score.py imports: mlflow for ours).

The server is a subprocess (`python oci_conda_runtime.py --serve DIR`, the model's imports isolated from the
tests'): it imports score.py from the artifact folder (the folder first on sys.path, the working directory, as
the service runs it; score.py's own default argument `model=load_model()` loads the model at import), then
  * POST /predict: `predict(data)` with the body parsed as JSON, or its raw bytes when it is not JSON; the
    result comes back as JSON (200, application/json). An exception in score.py (or a result that is not
    JSON) -> 500 {"code": "InternalServerError", "message": "Internal Server Error."} as OCI answers it;
    the traceback goes to the log (OCI's predict log), `log_text()`.
  * GET /health -> 200 {"status": "ok"}; anything else 404 {"code": "NotFound"} (405 for other methods on
    /predict).
Requests are served one at a time by score.py (a lock), /health while a prediction runs.
start() returns once the server prints its ready line (its own stdout, read by us; everything else it prints
goes to the log), and raises with the log's tail if the process exits before (score.py failed to import).
Standalone: the standard library and yaml (+ what score.py imports, in the child).
"""
import argparse
import ctypes
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

READY = "oci-conda-runtime: listening on "
START_BOUND = 600  # seconds: a bound for a hung import (mlflow on a busy machine), not a timing expectation
INTERNAL_ERROR = {"code": "InternalServerError", "message": "Internal Server Error."}


class ArtifactError(ValueError):
    """The artifact is not one the conda runtime can run (the deployment fails with this message)."""


def check_artifact(folder):
    """Checks runtime.yaml and score.py at the root of the unzipped artifact `folder`; returns runtime.yaml
    parsed. Raises ArtifactError with the reason."""
    folder = str(folder)
    names = []
    for root, _, files in os.walk(folder):
        names += [os.path.relpath(os.path.join(root, f), folder) for f in files]
    for required in ("runtime.yaml", "score.py"):
        if not os.path.isfile(os.path.join(folder, required)):
            nested = [n for n in names if os.path.basename(n) == required]
            where = f" (found {nested[0]}: the files must be at the root of the zip)" if nested else ""
            raise ArtifactError(f"{required} is missing from the root of the model artifact{where}.")
    try:
        with open(os.path.join(folder, "runtime.yaml")) as f:
            runtime = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ArtifactError(f"runtime.yaml is not valid YAML: {e}") from None
    if not isinstance(runtime, dict):
        raise ArtifactError("runtime.yaml must be a mapping.")
    if "MODEL_ARTIFACT_VERSION" not in runtime:
        raise ArtifactError("runtime.yaml: MODEL_ARTIFACT_VERSION is missing.")
    conda = ((runtime.get("MODEL_DEPLOYMENT") or {}).get("INFERENCE_CONDA_ENV")
             if isinstance(runtime.get("MODEL_DEPLOYMENT"), dict) else None)
    if not isinstance(conda, dict):
        raise ArtifactError("runtime.yaml: MODEL_DEPLOYMENT.INFERENCE_CONDA_ENV is missing.")
    path = conda.get("INFERENCE_ENV_PATH")
    if not isinstance(path, str) or not path.startswith("oci://"):
        raise ArtifactError(f"runtime.yaml: INFERENCE_ENV_PATH must be the oci:// URI of a conda pack, not {path!r}.")
    version = conda.get("INFERENCE_PYTHON_VERSION")
    if not isinstance(version, str) or not re.fullmatch(r"3\.\d+(\.\d+)?", version):
        raise ArtifactError("runtime.yaml: INFERENCE_PYTHON_VERSION must be a string like '3.11', not "
                            f"{version!r}.")
    return runtime


def _die_with_parent():
    """preexec_fn: SIGKILL the server if the test process dies (PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class CondaRuntime:
    """One model-deployment instance of the conda runtime serving the unzipped artifact in `artifact_dir`.
    `env`: the deployment's environmentVariables (added to this process's environment); `log_path`: where
    the server's output goes (default: <artifact_dir>.log)."""

    def __init__(self, artifact_dir, python=None, env=None, log_path=None):
        self.artifact_dir = os.path.abspath(str(artifact_dir))
        self.python = python or sys.executable
        self.env = dict(env or {})
        self.log_path = str(log_path or self.artifact_dir.rstrip("/") + ".log")
        self.runtime_yaml = None
        self.proc = None
        self.port = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def predict_url(self):
        return self.url + "/predict"

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self):
        self.runtime_yaml = check_artifact(self.artifact_dir)
        env = dict(os.environ, **self.env, PYTHONUNBUFFERED="1")
        # PR_SET_PDEATHSIG fires when the forking *thread* ends: only from the main thread (a stand-in's request
        # thread would take the server with it), as tests/servers/registry.py does.
        preexec = _die_with_parent if threading.current_thread() is threading.main_thread() else None
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([self.python, os.path.abspath(__file__), "--serve", self.artifact_dir],
                                         stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL, env=env,
                                         cwd=self.artifact_dir, text=True, preexec_fn=preexec)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(x) for x in self.proc.stdout] + [lines.put(None)],
                         daemon=True).start()
        while True:  # the server's own ready line (the child writes nothing else to this pipe), or EOF
            try:
                line = lines.get(timeout=START_BOUND)
            except queue.Empty:
                self.stop()
                raise RuntimeError(f"the conda runtime said nothing for {START_BOUND} s:\n{self.log_text()[-3000:]}")
            if line is None:
                code = self.proc.wait()
                self.proc = None
                raise RuntimeError(f"the model server exited with code {code} before it was ready (score.py "
                                   f"failed?):\n{self.log_text()[-3000:]}")
            if line.startswith(READY):
                self.port = int(line[len(READY):].strip().rsplit(":", 1)[1])
                return self

    def stop(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            if self.proc.stdout:
                self.proc.stdout.close()
            self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


# ------------------------------------------------------------------------------ the server (child process)
def _serve(folder):
    ready = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # whatever score.py or the model prints goes to the log, never into the ready pipe
    sys.stdout = os.fdopen(1, "w", buffering=1)
    folder = os.path.abspath(folder)
    sys.path[0] = folder  # instead of tests/servers (whose modules would shadow packages)
    os.chdir(folder)
    import importlib

    score = importlib.import_module("score")  # loads the model (predict's default argument)
    for name in ("load_model", "predict"):
        if not callable(getattr(score, name, None)):
            print(f"score.py defines no function {name}()", file=sys.stderr, flush=True)
            sys.exit(1)
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            sys.stderr.write("access: %s %s\n" % (self.address_string(), fmt % args))

        def _send(self, status, obj):
            body = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.split("?")[0] == "/health":
                return self._send(200, {"status": "ok"})
            if self.path.split("?")[0] == "/predict":
                return self._send(405, {"code": "MethodNotAllowed", "message": "Method not allowed."})
            self._send(404, {"code": "NotFound", "message": "Not found."})

        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.split("?")[0] != "/predict":
                return self._send(404, {"code": "NotFound", "message": "Not found."})
            try:
                data = json.loads(raw)
            except ValueError:
                data = raw
            try:
                with lock:
                    out = json.dumps(score.predict(data)).encode()
            except Exception:
                sys.stderr.write("score.py predict() failed:\n" + traceback.format_exc())
                sys.stderr.flush()
                return self._send(500, INTERNAL_ERROR)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    ready.write(f"{READY}http://127.0.0.1:{server.server_address[1]}\n")
    ready.close()
    signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=server.shutdown, daemon=True).start())
    server.serve_forever(poll_interval=0.2)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("artifact", help="the unzipped model artifact (runtime.yaml and score.py at its root)")
    parser.add_argument("--serve", action="store_true", help="serve in this process (what start() runs)")
    args = parser.parse_args(argv)
    if args.serve:
        return _serve(args.artifact)
    runtime = CondaRuntime(args.artifact, log_path=os.path.join(tempfile.mkdtemp(), "runtime.log")).start()
    print(f"oci conda runtime {runtime.predict_url} (log {runtime.log_path})", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    while not done.wait(0.5):
        pass
    runtime.stop()


if __name__ == "__main__":
    main()
