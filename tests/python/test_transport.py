"""The C++ HTTP transport as Python sees it: TLS on by default, proxies, the GIL."""

import http.server
import os
import ssl
import threading

import pytest
import trustme
from mlflow_bridge import _core
from proxy import Proxy


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
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
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
    t = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
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


def test_https_proxy_is_honoured_and_tls_still_verified(tls_server, monkeypatch):
    srv, ca_file = tls_server
    proxy = Proxy().start()
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    url = f"https://localhost:{srv.server_address[1]}/via-proxy"
    status, _, body = _core.Http(ca_bundle=ca_file).request("GET", url)
    assert (status, body) == (200, b"hello")
    assert proxy.tunnels == [f"CONNECT localhost:{srv.server_address[1]}"]
    with pytest.raises(_core.Error) as e:  # through the proxy, verification is still on
        _core.Http().request("GET", url)
    assert e.value.code == "UNAUTHENTICATED"
    monkeypatch.setenv("NO_PROXY", "localhost")
    proxy.tunnels.clear()
    _core.Http(ca_bundle=ca_file).request("GET", url)
    assert proxy.tunnels == []
    proxy.stop()


@pytest.fixture
def named_tls_server(tmp_path):
    """An HTTPS server on 127.0.0.1 whose certificate names only api.internal.example (a private
    endpoint's); it records the SNI name and the Host header of each request."""
    ca = trustme.CA()
    seen = []

    class Named(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            seen.append(("Host", self.headers["Host"]))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Named)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("api.internal.example").configure_cert(ctx)
    ctx.sni_callback = lambda sock, name, _: seen.append(("SNI", name))
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    yield f"https://127.0.0.1:{srv.server_address[1]}", str(tmp_path / "ca.pem"), seen
    srv.shutdown()


def test_tls_server_name_is_the_name_tls_checks_while_the_url_host_is_reached(named_tls_server, monkeypatch):
    url, ca_file, seen = named_tls_server
    for var in ("HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(_core.Error) as e:  # the certificate does not name 127.0.0.1
        _core.Http(ca_bundle=ca_file).request("GET", url + "/x")
    assert e.value.code == "UNAUTHENTICATED"
    status, _, body = _core.Http(ca_bundle=ca_file, tls_server_name="api.internal.example").request("GET", url + "/x")
    assert (status, body) == (200, b"ok")
    assert seen[-2:] == [("SNI", "api.internal.example"), ("Host", url.removeprefix("https://"))]
    with pytest.raises(_core.Error) as e:  # the name is checked: another one fails
        _core.Http(ca_bundle=ca_file, tls_server_name="other.example").request("GET", url + "/x")
    assert e.value.code == "UNAUTHENTICATED" and "as other.example" in e.value.message


def test_proxy_option_wins_over_the_environment_and_combines_with_tls_server_name(named_tls_server, monkeypatch):
    url, ca_file, seen = named_tls_server
    with Proxy() as proxy, Proxy() as environment:
        monkeypatch.setenv("HTTPS_PROXY", environment.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # NO_PROXY does not apply to an explicit proxy either
        http_ = _core.Http(ca_bundle=ca_file, tls_server_name="api.internal.example", proxy=proxy.url)
        assert http_.request("GET", url + "/a")[0] == 200
        # The tunnel goes to the URL's host; TLS inside it names tls_server_name.
        assert proxy.tunnels == [f"CONNECT {url.removeprefix('https://')}"] and environment.tunnels == []
        assert seen[-2:] == [("SNI", "api.internal.example"), ("Host", url.removeprefix("https://"))]
        socks = _core.Http(ca_bundle=ca_file, tls_server_name="api.internal.example", proxy=proxy.socks_url)
        assert socks.request("GET", url + "/b")[0] == 200
        assert proxy.tunnels[-1] == f"SOCKS5 {url.removeprefix('https://')}"


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
