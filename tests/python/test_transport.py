"""The C++ HTTP transport as Python sees it: TLS on by default, proxies, the GIL."""

import http.server
import os
import ssl
import threading
import time

import pytest
import trustme
from mlflow_bridge import _core


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = []

    def do_GET(self):
        Handler.seen.append(self.requestline)
        if self.path.endswith("/slow"):
            time.sleep(0.5)
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()


@pytest.fixture
def tls_server(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(ctx)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    yield srv, str(ca_file)
    srv.shutdown()


def test_tls_verification_is_on_by_default(tls_server):
    srv, ca_file = tls_server
    url = f"https://127.0.0.1:{srv.server_address[1]}/x"
    with pytest.raises(_core.Error) as e:
        _core.Http().request("GET", url)
    assert e.value.code == "UNAUTHENTICATED"
    status, _, body = _core.Http(ca_bundle=ca_file).request("GET", url)
    assert (status, body) == (200, b"hello")
    status, _, _ = _core.Http(verify_tls=False).request("GET", url)
    assert status == 200


def test_proxy_environment_is_honoured(server, monkeypatch):
    port = server.server_address[1]
    monkeypatch.setenv("http_proxy", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    Handler.seen.clear()
    status, _, _ = _core.Http().request("GET", "http://example.invalid/through-proxy")
    assert status == 200
    assert Handler.seen == ["GET http://example.invalid/through-proxy HTTP/1.1"]
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    Handler.seen.clear()
    _core.Http().request("GET", f"http://127.0.0.1:{port}/direct")
    assert Handler.seen == ["GET /direct HTTP/1.1"]


def test_the_gil_is_released_during_io(server):
    url = f"http://127.0.0.1:{server.server_address[1]}/slow"
    done = threading.Event()
    ticks = 0

    def call():
        _core.Http().request("GET", url)
        done.set()

    t = threading.Thread(target=call)
    t.start()
    while not done.is_set():
        ticks += 1  # runs only if the request thread does not hold the GIL
        time.sleep(0.001)
    t.join()
    assert ticks > 10


def test_redaction():
    assert "abc.def" not in _core.redact("Authorization: Bearer abc.def")
    assert "hunter2" not in _core.redact("password=hunter2")
    assert "AKIAIOSFODNN7EXAMPLE" not in _core.redact("key id AKIAIOSFODNN7EXAMPLE")
    assert _core.redact("nothing secret here") == "nothing secret here"
