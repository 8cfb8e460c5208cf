"""bench/serve: mlflow-bridge-serve versus `mlflow models serve` on the same model, machine and run, driven by wrk.

    python bench/serve/run.py [--workers 2] [--duration 10] [--warmup 2] [--connections 1,16,64] [--tree]

For each model (a scikit-learn LogisticRegression on one row of 4 features; with --tree also a
RandomForestClassifier), each server is started alone on a free 127.0.0.1 port with the same number of
workers, checked to answer the request as the other does, then driven by wrk (a Lua script POSTs the same
dataframe_split JSON body) at each connection count: a warm-up run (not counted), then a timed run. It prints
requests/s, p50 and p99 latency for each, and the ratios native/mlflow. Traffic goes to 127.0.0.1 only; every
run of wrk and every server ends by itself (servers are stopped with SIGTERM, then SIGKILL).

The native server runs with --access-log off (MLflow's server logs no line per request) and its defaults
otherwise (scikit-learn is a flavor it batches by default, decision 0009). The binary: $MLFLOW_BRIDGE_SERVE_BIN, else build/release or build/dev.
"""

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pandas as pd
import requests

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HOST = "127.0.0.1"  # never anything else
GUARD = 300  # seconds: how long any one step may take before the benchmark gives up

LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = io.open(os.getenv("BENCH_BODY_FILE")):read("*a")
function done(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors_connect": %d, ' ..
    '"errors_read": %d, "errors_write": %d, "errors_status": %d, "errors_timeout": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout))
end
"""


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def serve_bin():
    candidates = [os.environ.get("MLFLOW_BRIDGE_SERVE_BIN")] + [
        os.path.join(ROOT, "build", d, "mlflow-bridge-serve") for d in ("release", "dev")]
    for path in candidates:
        if path and os.access(path, os.X_OK):
            return path
    sys.exit("mlflow-bridge-serve not found: build it (cmake --build build/release --target mlflow-bridge-serve) "
             "or set MLFLOW_BRIDGE_SERVE_BIN")


def make_models(folder, tree):
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame(rng.normal(size=(200, 4)), columns=["a", "b", "c", "d"])
    y = (x["a"] + x["b"] - x["c"] > 0).astype(int)
    made = [("sklearn LogisticRegression", LogisticRegression().fit(x, y))]
    if tree:
        made.append(("sklearn RandomForestClassifier(50 trees)",
                     RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0).fit(x, y)))
    out = []
    for i, (label, model) in enumerate(made):
        path = os.path.join(folder, f"model{i}")
        mlflow.sklearn.save_model(model, path, signature=infer_signature(x, model.predict(x)),
                                  pip_requirements=mlflow.sklearn.get_default_pip_requirements(),
                                  skops_trusted_types=["sklearn.tree._tree.Tree"])
        out.append((label, path))
    body = json.dumps({"dataframe_split": {"columns": list(x.columns), "data": x.head(1).values.tolist()}})
    return out, body


class Server:
    def __init__(self, label, cmd, env, log_path):
        self.label, self.port = label, None
        self.log_path = log_path
        self.cmd, self.env = cmd, env

    def start(self):
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=log, stderr=log, env=self.env, start_new_session=True)
        url = f"http://{HOST}:{self.port}/ping"
        deadline = time.monotonic() + GUARD
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                sys.exit(f"{self.label} exited before it was ready:\n{open(self.log_path).read()}")
            try:
                if requests.get(url, timeout=5).status_code == 200:
                    return self
            except requests.exceptions.RequestException:
                pass
            time.sleep(0.2)
        self.stop()
        sys.exit(f"{self.label} was not ready within {GUARD} s")

    def stop(self):
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def mlflow_server(model, workers, logdir):
    port = free_port()
    bindir = os.path.dirname(sys.executable)
    env = dict(os.environ, PATH=bindir + os.pathsep + os.environ.get("PATH", ""))
    s = Server("mlflow models serve",
               [os.path.join(bindir, "mlflow"), "models", "serve", "-m", model, "-h", HOST, "-p", str(port),
                "-w", str(workers), "--env-manager", "local"], env, os.path.join(logdir, f"mlflow-{port}.log"))
    s.port = port
    return s


def native_server(binary, model, workers, logdir):
    port = free_port()
    s = Server("mlflow-bridge-serve",
               [binary, "--model", model, "--host", HOST, "--port", str(port), "--workers", str(workers),
                "--python", sys.executable, "--access-log", "off"], dict(os.environ),
               os.path.join(logdir, f"native-{port}.log"))
    s.port = port
    return s


def wrk(port, connections, seconds, threads, script, body_file):
    cmd = ["wrk", "-t", str(min(threads, connections)), "-c", str(connections), "-d", f"{seconds}s",
           "--timeout", "30s", "-s", script, f"http://{HOST}:{port}/invocations"]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + GUARD,
                         env=dict(os.environ, BENCH_BODY_FILE=body_file))
    for line in out.stdout.splitlines():
        if line.startswith("RESULT "):
            r = json.loads(line[len("RESULT "):])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
            r["errors"] = sum(v for k, v in r.items() if k.startswith("errors_"))
            return r
    sys.exit(f"wrk printed no result:\n{out.stdout}\n{out.stderr}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="workers of each server")
    parser.add_argument("--duration", type=int, default=10, help="seconds of each timed run")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of the warm-up before each timed run")
    parser.add_argument("--connections", default="1,16,64")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--tree", action="store_true", help="also a RandomForestClassifier")
    args = parser.parse_args()
    conns = [int(c) for c in args.connections.split(",")]
    binary = serve_bin()
    import mlflow

    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        models, body = make_models(tmp, args.tree)
        body_file, script = os.path.join(tmp, "body.json"), os.path.join(tmp, "post.lua")
        with open(body_file, "w") as f:
            f.write(body)
        with open(script, "w") as f:
            f.write(LUA)
        wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.splitlines()[0]
        print(f"bench/serve  {time.strftime('%Y-%m-%d %H:%M:%S %Z')}  cores={os.cpu_count()}  "
              f"load average at start={os.getloadavg()[0]:.2f}")
        print(f"  mlflow {mlflow.__version__}: mlflow models serve -w {args.workers} --env-manager local (uvicorn)")
        version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
        print(f"  ours ({version}): {binary} --workers {args.workers} --access-log off (batching: its default)")
        print(f"  {wrk_version.strip()}: -t {args.wrk_threads} (at most the connections) --timeout 30s, "
              f"{args.warmup} s warm-up then {args.duration} s timed, POST /invocations on {HOST}, "
              f"body {len(body)} bytes: {body}")
        print("  each server runs alone (the other is stopped) while wrk drives it")
        rows = []
        for label, path in models:
            results = {}
            expected = None
            for make in (lambda: mlflow_server(path, args.workers, tmp),
                         lambda: native_server(binary, path, args.workers, tmp)):
                server = make().start()
                try:
                    r = requests.post(f"http://{HOST}:{server.port}/invocations", data=body,
                                      headers={"Content-Type": "application/json"}, timeout=GUARD)
                    answer = (r.status_code, r.content)
                    if r.status_code != 200 or (expected is not None and answer != expected):
                        sys.exit(f"{server.label} answered {answer}, expected {expected}")
                    expected = answer
                    for c in conns:
                        wrk(server.port, c, args.warmup, args.wrk_threads, script, body_file)
                        results[(server.label, c)] = wrk(server.port, c, args.duration, args.wrk_threads, script,
                                                         body_file)
                finally:
                    server.stop()
            rows.append((label, results))

        print()
        print(f"{'model':42} {'conns':>5} {'server':20} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>9} {'errors':>6}")
        for label, results in rows:
            for c in conns:
                for name in ("mlflow models serve", "mlflow-bridge-serve"):
                    r = results[(name, c)]
                    print(f"{label:42} {c:5d} {name:20} {r['rps']:9.1f} {r['p50_us'] / 1e3:8.2f} "
                          f"{r['p99_us'] / 1e3:9.2f} {r['errors']:6d}")
        print()
        print(f"{'ratios native/mlflow':42} {'conns':>5} {'req/s':>9} {'p50':>8} {'p99':>9}")
        for label, results in rows:
            for c in conns:
                a, b = results[("mlflow-bridge-serve", c)], results[("mlflow models serve", c)]
                print(f"{label:42} {c:5d} {a['rps'] / b['rps']:8.2f}x {a['p50_us'] / b['p50_us']:7.3f}x "
                      f"{a['p99_us'] / b['p99_us']:8.3f}x")
        print(f"\nload average at the end={os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
