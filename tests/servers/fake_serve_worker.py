"""A stand-in for mlflow-bridge-serve's model worker (python/mlflow_bridge/serve_worker.py), without MLflow.

The C++ tests of the ``local`` target run the real server binary with this program as its worker
(``--worker-script``) and ``tests/cpp/fake_python.sh`` as its Python, so that they need no MLflow. The server
starts it as ``<python> <this file> --fd 3 --model DIR`` with its end of a socketpair as fd 3, and it speaks
the worker protocol of decision 0009. The model folder is the one of fake_scoring_server.py:

``name``       returned as "model" in every prediction, to tell models apart
``behaviour``  optional: ``ok`` (default), ``crash`` (print an error, report it and exit 1 before it is
               ready), ``hang`` (never get ready), ``slow`` (get ready after 1 s)

A JSON body ``{"inputs": X}`` -> 200 ``{"predictions": X, "model": <name>}``; any other body -> 400
``{"error_code": "BAD_REQUEST", "message": ...}`` (MLflow's error shape). Like the real worker it ignores
SIGINT and SIGTERM and exits when the server closes its end.
"""

import argparse
import json
import os
import signal
import socket
import struct
import sys
import time

from fake_scoring_server import read_model_file  # the same model folder layout (next to this file)

_PREFIX = struct.Struct(">II")


def log(message):
    print(f"fake_serve_worker[{os.getpid()}]: {message}", file=sys.stderr, flush=True)


def read_exactly(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def read_frame(sock):
    prefix = read_exactly(sock, _PREFIX.size)
    if prefix is None:
        return None
    length, header_length = _PREFIX.unpack(prefix)
    rest = read_exactly(sock, length - 4)
    if rest is None:
        return None
    return json.loads(rest[:header_length]), rest[header_length:]


def write_frame(sock, header, payload=b""):
    h = json.dumps(header).encode()
    sock.sendall(_PREFIX.pack(4 + len(h) + len(payload), len(h)) + h + payload)


def answer(model_name, body):
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        return 400, {"error_code": "BAD_REQUEST", "message": f"Invalid input. The body is not valid JSON: {e}"}
    if not isinstance(data, dict) or "inputs" not in data:
        return 400, {"error_code": "BAD_REQUEST",
                     "message": "Invalid input. The JSON body must be an object with the key 'inputs'."}
    return 200, {"predictions": data["inputs"], "model": model_name}


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=args.fd)
    behaviour = read_model_file(args.model, "behaviour", "ok") or "ok"
    model_name = read_model_file(args.model, "name", "")
    log(f"loading model {model_name!r} from {args.model} (behaviour {behaviour})")
    if behaviour == "crash":
        log(f"MODEL LOAD FAILED: cannot load model {model_name!r}: simulated crash")
        write_frame(sock, {"type": "error", "message": f"cannot load model {model_name!r}: simulated crash"})
        return 1
    if behaviour == "hang":
        log("model loading hangs (simulated)")
        read_exactly(sock, 1)  # until the server closes the link
        return 0
    if behaviour == "slow":
        log("model loading takes a second (simulated)")
        time.sleep(1)
    elif behaviour != "ok":
        log(f"unknown behaviour {behaviour!r}")
        write_frame(sock, {"type": "error", "message": f"unknown behaviour {behaviour!r}"})
        return 2
    write_frame(sock, {"type": "ready", "mlflow_version": "0.0-fake", "flavors": ["python_function"],
                       "loader_module": "fake", "input_schema": False, "pid": os.getpid()})
    while True:
        frame = read_frame(sock)
        if frame is None:
            return 0
        header, body = frame
        status, payload = answer(model_name, body)
        write_frame(sock, {"type": "reply", "id": header.get("id"), "status": status,
                           "content_type": "application/json"}, json.dumps(payload).encode())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
