"""A stand-in for MLflow's scoring server (``python -m uvicorn ... mlflow.pyfunc.scoring_server.app:app``).

The C++ tests of the ``local`` target run it through ``tests/cpp/fake_python.sh``
in place of a Python interpreter, so it accepts exactly the argv that
LocalClient passes to the interpreter::

    -m uvicorn --fd 3 --workers N --timeout-graceful-shutdown N --no-access-log APP

Like the real server it reads the model folder from ``__pyfunc_model_path__``,
"loads the model" before it listens, and listens on the inherited socket fd 3
(bound by the client, not yet listening). The model folder holds:

``name``       returned as "model" in every prediction, to tell models apart
``behaviour``  optional: ``ok`` (default), ``crash`` (print an error and exit 1
               before listening), ``hang`` (never listen), ``slow`` (listen after 1 s), ``fail_ping``
               (listen, but GET /ping answers 500)

Routes: GET /ping -> 200; POST /invocations with a JSON body ``{"inputs": X}``
-> 200 ``{"predictions": X, "model": <name>}``; any other body -> 400
``{"error_code": "BAD_REQUEST", "message": ...}`` (MLflow's error shape).
Connections are kept alive (HTTP/1.1) and closed after 5 s idle, as uvicorn
does. SIGTERM stops it cleanly, as uvicorn does: it stops accepting, closes
idle connections, finishes requests in flight and exits 0.
"""

import argparse
import json
import os
import select
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

APP = "mlflow.pyfunc.scoring_server.app:app"
MODEL_PATH_ENV = "__pyfunc_model_path__"


def log(message):
    print(f"fake_scoring_server[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


def parse_args(argv):
    if argv[:2] != ["-m", "uvicorn"]:
        log(f"expected '-m uvicorn ...', got {argv!r}")
        sys.exit(2)
    parser = argparse.ArgumentParser(prog="uvicorn")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--timeout-graceful-shutdown", type=int, default=None)
    parser.add_argument("--no-access-log", action="store_true")
    parser.add_argument("app")
    args = parser.parse_args(argv[2:])
    if args.fd != 3:
        parser.error(f"--fd must be 3, got {args.fd}")
    if args.workers < 1:
        parser.error(f"--workers must be >= 1, got {args.workers}")
    if args.app != APP:
        parser.error(f"unexpected app {args.app!r}, want {APP!r}")
    return args


def read_model_file(model_dir, name, default):
    try:
        with open(os.path.join(model_dir, name), encoding="utf-8") as f:
            return f.read().strip()
    except FileNotFoundError:
        return default


KEEP_ALIVE_SECONDS = 5  # uvicorn's --timeout-keep-alive default


class Connections:
    """Idle keep-alive connections, closed on shutdown."""

    def __init__(self):
        self.lock = threading.Lock()
        self.idle = set()
        self.stopping = False

    def close_idle(self):
        with self.lock:
            self.stopping = True
            for conn in self.idle:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def make_handler(model_name, fail_ping, access_log, connections):
    class Handler(BaseHTTPRequestHandler):
        server_version = "fake-scoring-server"
        protocol_version = "HTTP/1.1"

        def handle(self):
            conn = self.connection
            while True:
                with connections.lock:
                    if connections.stopping:
                        return
                    connections.idle.add(conn)
                try:
                    readable, _, _ = select.select([conn], [], [], KEEP_ALIVE_SECONDS)
                finally:
                    with connections.lock:
                        connections.idle.discard(conn)
                if not readable:
                    return  # idle too long
                self.handle_one_request()
                if self.close_connection:
                    return

        def log_message(self, format, *args):  # noqa: A002 (BaseHTTPRequestHandler's name)
            if access_log:
                super().log_message(format, *args)

        def reply(self, code, payload):
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):  # noqa: N802
            if self.path == "/ping":
                if fail_ping:
                    self.reply(500, {"error_code": "INTERNAL_ERROR", "message": "model is unhealthy"})
                else:
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", "1")
                    self.end_headers()
                    self.wfile.write(b"\n")
            else:
                self.reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No route {self.path}"})

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length > 0 else b""
            if self.path != "/invocations":
                self.reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": f"No route {self.path}"})
                return
            try:
                data = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, ValueError) as e:
                self.reply(400, {"error_code": "BAD_REQUEST", "message": f"Invalid input. The body is not valid JSON: {e}"})
                return
            if not isinstance(data, dict) or "inputs" not in data:
                self.reply(400, {"error_code": "BAD_REQUEST",
                                 "message": "Invalid input. The JSON body must be an object with the key 'inputs'."})
                return
            self.reply(200, {"predictions": data["inputs"], "model": model_name})

    return Handler


def main(argv):
    args = parse_args(argv)
    model_dir = os.environ.get(MODEL_PATH_ENV)
    if not model_dir:
        log(f"{MODEL_PATH_ENV} is not set")
        return 2
    behaviour = read_model_file(model_dir, "behaviour", "ok") or "ok"
    model_name = read_model_file(model_dir, "name", "")
    log(f"loading model {model_name!r} from {model_dir} (behaviour {behaviour}, workers {args.workers})")

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    if behaviour == "crash":
        log(f"MODEL LOAD FAILED: cannot load model {model_name!r}: simulated crash")
        return 1
    if behaviour == "hang":
        log("model loading hangs (simulated)")
        stop.wait()
        return 0
    if behaviour == "slow":
        log("model loading takes a second (simulated)")
        time.sleep(1)
    elif behaviour not in ("ok", "fail_ping"):
        log(f"unknown behaviour {behaviour!r}")
        return 2

    sock = socket.socket(fileno=3)
    sock.listen(128)
    connections = Connections()
    handler = make_handler(model_name, behaviour == "fail_ping", not args.no_access_log, connections)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler, bind_and_activate=False)
    # ThreadingHTTPServer's handler threads are daemons, which server_close() does not wait for: the process
    # would exit with an answer half sent (a full test run saw "transfer closed with 52 bytes remaining").
    httpd.daemon_threads = False
    httpd.socket.close()
    httpd.socket = sock
    httpd.server_address = sock.getsockname()
    log(f"listening on 127.0.0.1:{httpd.server_address[1]}")

    def shutdown_on_stop():
        stop.wait()
        httpd.shutdown()  # stops accepting
        connections.close_idle()

    threading.Thread(target=shutdown_on_stop, daemon=True).start()
    httpd.serve_forever(poll_interval=0.05)
    httpd.socket.close()  # no new connections from here on
    connections.close_idle()
    httpd.server_close()  # waits for requests in flight
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
