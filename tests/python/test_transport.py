"""The C++ HTTP transport as Python sees it: TLS on by default, proxies, the GIL."""

import http.server
import os
import ssl
import threading

import pytest
import trustme
from mlflow_bridge import _core


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen = []
    arrived = threading.Event()  # a request for /held came in
    release = threading.Event()  # ... and may be answered now

    def do_GET(self):
        Handler.seen.append(self.requestline)
        if self.path.endswith("/held"):
            Handler.arrived.set()
            Handler.release.wait(600)  # a bound for a broken test, not a timing expectation
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
    """While the C++ call waits for its answer, Python threads run: the handler (Python, in this process)
    receives the request, and this thread answers for it. Holding the GIL would stop both."""
    url = f"http://127.0.0.1:{server.server_address[1]}/held"
    Handler.arrived.clear()
    Handler.release.clear()
    result = []
    t = threading.Thread(target=lambda: result.append(_core.Http().request("GET", url)))
    t.start()
    try:
        assert Handler.arrived.wait(120), "the request never reached the server: the GIL was held"
        assert t.is_alive() and result == []  # the call is still waiting, and Python code runs meanwhile
    finally:
        Handler.release.set()
        t.join(600)
    assert [(status, body) for status, _, body in result] == [(200, b"hello")]


def test_redaction():
    assert "abc.def" not in _core.redact("Authorization: Bearer abc.def")
    assert "hunter2" not in _core.redact("password=hunter2")
    assert "AKIAIOSFODNN7EXAMPLE" not in _core.redact("key id AKIAIOSFODNN7EXAMPLE")
    assert _core.redact("nothing secret here") == "nothing secret here"


class ConnectProxy(threading.Thread):
    """A minimal HTTPS proxy: answers CONNECT host:port and tunnels bytes both ways."""

    def __init__(self):
        super().__init__(daemon=True)
        import socket

        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.connects = []

    def run(self):
        import socket

        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            line = head.split(b"\r\n")[0].decode()
            self.connects.append(line)
            host, port = line.split()[1].rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self.pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(2)
                except OSError:
                    pass


def test_https_proxy_is_honoured_and_tls_still_verified(tls_server, monkeypatch):
    srv, ca_file = tls_server
    proxy = ConnectProxy()
    proxy.start()
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.port}")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    url = f"https://localhost:{srv.server_address[1]}/via-proxy"
    status, _, body = _core.Http(ca_bundle=ca_file).request("GET", url)
    assert (status, body) == (200, b"hello")
    assert proxy.connects == [f"CONNECT localhost:{srv.server_address[1]} HTTP/1.1"]
    with pytest.raises(_core.Error) as e:  # through the proxy, verification is still on
        _core.Http().request("GET", url)
    assert e.value.code == "UNAUTHENTICATED"
    monkeypatch.setenv("NO_PROXY", "localhost")
    proxy.connects.clear()
    _core.Http(ca_bundle=ca_file).request("GET", url)
    assert proxy.connects == []
    proxy.sock.close()


@pytest.mark.parametrize(
    "code",
    [
        "INVALID_PARAMETER_VALUE",
        "RESOURCE_DOES_NOT_EXIST",
        "RESOURCE_ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "UNAUTHENTICATED",
        "TEMPORARILY_UNAVAILABLE",
        "DEADLINE_EXCEEDED",
        "INTERNAL_ERROR",
    ],
)
def test_core_errors_become_mlflow_exceptions_with_the_same_code(code):
    from mlflow_bridge._errors import to_mlflow_exception

    err = _core.Error("what failed")
    err.code, err.message = code, "what failed"
    e = to_mlflow_exception(err)
    assert e.error_code == code and e.message == "what failed"


def test_a_core_error_reaches_python_with_its_code():
    with pytest.raises(_core.Error) as e:
        _core.Http().request("GET", "ftp://example.invalid/")
    assert e.value.code == "INVALID_PARAMETER_VALUE"
