"""Run by tests/clean_root/run.sh inside the clean Debian root, with the venv's Python the wheel was
installed into. Each check prints one line; the first failure stops it with a message."""

import http.server
import json
import logging
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading

VENV_BIN = os.path.dirname(sys.executable)
MLFLOW = os.path.join(VENV_BIN, "mlflow")
TLS = "/check/tls"


def ok(what):
    print(f"   ok: {what}", flush=True)


def fail(what, detail=""):
    print(f"   FAILED: {what}\n{detail}", file=sys.stderr, flush=True)
    sys.exit(1)


def deployments(*args, env=None):
    run = subprocess.run([MLFLOW, "deployments", *args], capture_output=True, text=True, timeout=600, env=env)
    if run.returncode != 0:
        fail(f"mlflow deployments {' '.join(args)} exited {run.returncode}", run.stdout + run.stderr)
    return run.stdout


def check_nothing_but_glibc_and_libstdcxx():
    from mlflow_bridge import _core

    needed = subprocess.run(["ldd", _core.__file__], capture_output=True, text=True, check=True).stdout
    missing = [line.split()[0] for line in needed.splitlines() if "=> not found" in line]
    if missing:
        fail(f"_core needs {', '.join(missing)}, which the wheel does not bundle", needed)
    ok(f"_core loads here ({os.path.basename(_core.__file__)}; every library it needs is found)")


def check_help():
    out = deployments("help", "-t", "kyma")
    if "render" not in out or "namespace" not in out:
        fail("mlflow deployments help -t kyma does not list the kyma config keys", out)
    ok("mlflow deployments help -t kyma")


def check_local_target():
    import mlflow.pyfunc
    import pandas as pd

    logging.getLogger("mlflow").setLevel(logging.ERROR)

    class Double(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return (model_input["x"] * 2).tolist()

    work = tempfile.mkdtemp()
    model = os.path.join(work, "model")
    mlflow.pyfunc.save_model(model, python_model=Double())
    env = dict(os.environ, MLFLOW_BRIDGE_HOME=os.path.join(work, "home"))
    out = deployments("create", "-t", "local", "--name", "clean", "-m", model, "-C", "workers=1", env=env)
    if "deployment clean is created" not in out:
        fail("mlflow deployments create -t local did not say that the deployment is created", out)
    ok("mlflow deployments create -t local")
    rows = os.path.join(work, "rows.json")
    pd.DataFrame({"x": [1.0, 2.5, 4.0]}).to_json(rows, orient="records")
    predictions = os.path.join(work, "predictions.json")
    deployments("predict", "-t", "local", "--name", "clean", "--input-path", rows, "--output-path", predictions, env=env)
    got = json.load(open(predictions))
    if got.get("predictions") != [2.0, 5.0, 8.0]:
        fail("mlflow deployments predict -t local gave the wrong predictions", json.dumps(got))
    ok(f"mlflow deployments predict -t local: {got['predictions']}")
    deployments("delete", "-t", "local", "--name", "clean", env=env)
    if "clean" in deployments("list", "-t", "local", env=env):
        fail("the deployment is still listed after delete")
    ok("mlflow deployments delete -t local")


def check_serve():
    """The native model server from the wheel runs here as it is (it needs nothing but glibc) and serves."""
    import re
    import signal
    import urllib.request

    import mlflow.pyfunc
    from mlflow_bridge import serve_command

    class Triple(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return (model_input["x"] * 3).tolist()

    binary = serve_command().binary
    needed = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
    if "not found" in needed:
        fail(f"{binary} needs libraries that are not here", needed)
    model = os.path.join(tempfile.mkdtemp(), "model")
    mlflow.pyfunc.save_model(model, python_model=Triple())
    proc = subprocess.Popen([binary, "serve", "--model", model, "--host", "127.0.0.1", "--port", "0", "--workers", "1",
                             "--python", sys.executable], stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        for line in proc.stderr:  # until it listens (or exits: the loop ends)
            lines.append(line)
            if m := re.search(r"Listening on port (\d+)", line):
                break
        else:
            fail(f"{binary} exited ({proc.wait()}) before it listened", "".join(lines))
        threading.Thread(target=lambda: [lines.append(x) for x in proc.stderr], daemon=True).start()
        body = json.dumps({"dataframe_split": {"columns": ["x"], "data": [[1.0], [2.0]]}}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{m.group(1)}/invocations", data=body,
                                         headers={"Content-Type": "application/json"})
        got = json.load(urllib.request.urlopen(request, timeout=600))
        if got != {"predictions": [3.0, 6.0]}:
            fail("mlflow-bridge-serve gave the wrong predictions", json.dumps(got))
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(600)
    if code != 0:
        fail(f"mlflow-bridge-serve exited {code} after SIGTERM", "".join(lines))
    ok(f"mlflow-bridge-serve from the wheel serves here: {got['predictions']}")


class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"hello")

    def log_message(self, *args):
        pass


def https_server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(TLS, "server.pem"))
    srv.socket = context.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def get(url, **env):
    """GET through the bundled libcurl, with the environment the transport is made under."""
    from mlflow_bridge import _core

    saved = {k: os.environ.get(k) for k in ("CURL_CA_BUNDLE", "SSL_CERT_FILE", "SSL_CERT_DIR")}
    try:
        for k in saved:
            os.environ.pop(k, None)
        os.environ.update(env)
        status, _, body = _core.Http(timeout_ms=20000).request("GET", url)
        return status, body
    except Exception as e:  # the transport's error, as the targets see it
        return None, str(e)
    finally:
        for k, v in saved.items():
            os.environ.pop(k, None)
            if v is not None:
                os.environ[k] = v


def expect(what, result, good):
    status, body = result
    if good and (status, body) != (200, b"hello"):
        fail(what, repr(result))
    if not good and status is not None:
        fail(what + " (the request should have failed)", repr(result))
    ok(what if good else f"{what}: {body}")
    return body


def check_tls():
    srv = https_server()
    url = f"https://localhost:{srv.server_address[1]}/"
    # The root trusts the test CA as a system CA (update-ca-certificates), as a company CA would be.
    shutil.copy(os.path.join(TLS, "ca.pem"), "/usr/local/share/ca-certificates/mlflow-bridge-test.crt")
    subprocess.run(["update-ca-certificates"], check=True, capture_output=True)
    expect("TLS, Debian's CA bundle found (/etc/ssl/certs/ca-certificates.crt)", get(url), True)
    body = expect("TLS, CURL_CA_BUNDLE honoured", get(url, CURL_CA_BUNDLE=os.path.join(TLS, "other-ca.pem")), False)
    if "CURL_CA_BUNDLE" not in body:
        fail("a TLS failure with CURL_CA_BUNDLE set does not name it", body)
    expect("TLS, SSL_CERT_FILE honoured", get(url, SSL_CERT_FILE=os.path.join(TLS, "ca.pem")), True)
    # A Red Hat-style layout: no /etc/ssl/certs at all, the bundle in /etc/pki/tls/certs.
    os.rename("/etc/ssl/certs", "/etc/ssl/certs.debian")
    try:
        os.makedirs("/etc/pki/tls/certs")
        shutil.copy("/etc/ssl/certs.debian/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")
        expect("TLS, Red Hat's CA bundle found (/etc/pki/tls/certs/ca-bundle.crt)", get(url), True)
        shutil.rmtree("/etc/pki")
        body = expect("TLS, no CA certificates anywhere", get(url), False)
        if "CURL_CA_BUNDLE" not in body:
            fail("a TLS failure with no CA certificates does not say how to give some", body)
    finally:
        shutil.rmtree("/etc/pki", ignore_errors=True)
        os.rename("/etc/ssl/certs.debian", "/etc/ssl/certs")
    srv.shutdown()


check_nothing_but_glibc_and_libstdcxx()
check_help()
check_local_target()
check_serve()
check_tls()
print("   the wheel works on the clean root")
