"""OCI registries on loopback for the image tests, and real clients to read them back.

`Registry` runs Debian's docker-registry 2.8.2 (`docker-registry serve config.yml`) as a
subprocess on 127.0.0.1 with a port the registry picks itself (`addr: 127.0.0.1:0`, the port
is parsed from "listening on 127.0.0.1:PORT" on stderr). Modes:
  * plain     HTTP, no auth
  * tls       HTTPS with a test CA (`ca_path`, `cert_dir` for skopeo's --cert-dir)
  * htpasswd  Basic auth, bcrypt htpasswd file made with `htpasswd -Bbn` (apache2-utils)
  * token     Bearer tokens from an in-process Docker token server (`TokenServer`): ES256 JWTs
              with a libtrust `kid`, `aud` a plain string, per-user permission rules
`tls=True` adds TLS to htpasswd/token modes too.

The registry's access log (Apache combined format, on its stdout) goes to a file:
`requests_log()`, `blob_uploads()`, `manifest_puts()`, `blob_mounts()` read it back, from the
last `mark()` on. `proxy(drop_after_bytes=N)` puts a fault-injecting TCP proxy in front.

`make_base_image()` builds a tiny deterministic image without docker (python tarfile) and
pushes it with `skopeo copy --all`; `skopeo_inspect()` and `pull_and_unpack()` (skopeo + umoci)
read what a client pushed. See docs/image-notes.md for the verified behaviour of these tools.
"""
import atexit
import base64
import datetime
import fnmatch
import gzip
import hashlib
import http.client
import http.server
import io
import json
import os
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tarfile
import tempfile
import threading
import time
import urllib.parse
import uuid

DOCKER_REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"
SERVICE = "test-registry"
ISSUER = "test-issuer"
START_TIMEOUT = 120.0  # a bound for a broken start, not an expectation: a busy machine is slow

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)

_running = set()  # every started Registry, stopped at interpreter exit as a last resort


@atexit.register
def _stop_all():
    for reg in list(_running):
        reg.stop()


class SkopeoError(RuntimeError):
    """A skopeo/umoci command failed; `.stderr` holds its error output."""

    def __init__(self, cmd, returncode, stderr):
        self.cmd, self.returncode, self.stderr = cmd, returncode, stderr
        super().__init__(f"{' '.join(cmd)} -> exit {returncode}:\n{stderr.strip()}")


# ------------------------------------------------------------------------------ helpers
def _b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def libtrust_kid(public_key):
    """libtrust key ID: base32(SHA-256(DER SubjectPublicKeyInfo)[:30]) in ':'-joined groups of 4."""
    from cryptography.hazmat.primitives import serialization

    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    s = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode().rstrip("=")
    return ":".join(s[i:i + 4] for i in range(0, len(s), 4))


def _self_signed(cn):
    """A P-256 key and a self-signed certificate for it (PEM bytes)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1)).not_valid_after(now + datetime.timedelta(days=2))
            .sign(key, hashes.SHA256()))
    return key, cert.public_bytes(serialization.Encoding.PEM)


def _parse_scope(scope):
    """'repository:team/app:pull,push' -> ('repository', 'team/app', ['pull', 'push'])."""
    parts = scope.split(":")
    if len(parts) < 3:
        return None
    return parts[0], ":".join(parts[1:-1]), [a for a in parts[-1].split(",") if a]


def _pdeathsig():
    """preexec_fn: the child gets SIGKILL when the parent dies (no orphans if pytest is killed)."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except Exception:  # pragma: no cover - not Linux
        return None

    def fn():
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG

    return fn


# ------------------------------------------------------------------------------ token server
class TokenServer:
    """Docker token server (https://distribution.github.io/distribution/spec/auth/token/).

    GET  /token?service=S&scope=..&scope=..&account=A  [+ Basic auth]   -> {token, access_token, ...}
         offline_token=true adds a refresh_token.
    POST /token form grant_type=password (username, password) | refresh_token (refresh_token),
         service, scope (space separated), client_id, access_type=offline -> {access_token, ...}
    Unknown user / wrong password / unknown refresh token -> 401. No credentials -> anonymous
    token granting only what permissions[""] allows (nothing by default).

    permissions: None (every authenticated user gets every action asked for) or
    {user: {name_glob: [actions]}} e.g. {"alice": {"team/*": ["pull", "push"]}, "reader": {"*": ["pull"]}};
    "*" as an action allows all; the key "" is the anonymous user.
    The JWT is ES256 with `kid` = libtrust key ID of the key in `cert_pem` (the registry's
    rootcertbundle), `aud` the service as a string.
    """

    def __init__(self, users, permissions=None, service=SERVICE, issuer=ISSUER, ttl=300):
        self.users = dict(users or {})
        self.permissions = permissions
        self.service, self.issuer, self.ttl = service, issuer, ttl
        self.key, self.cert_pem = _self_signed("test-token-signer")
        self.kid = libtrust_kid(self.key.public_key())
        self._refresh = {}  # refresh token -> user
        self._log = []
        self._lock = threading.Lock()
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                server._handle(self, "GET")

            def do_POST(self):
                server._handle(self, "POST")

            def log_message(self, *args):
                pass

        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self.realm = f"http://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="token-server", daemon=True)
        self._thread.start()

    def stop(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(5)
            self._httpd = None

    def requests(self):
        """Every request so far (no passwords, no tokens): method, path, service, scopes, account,
        user (authenticated; "" anonymous; None rejected), grant_type, client_id, status, granted."""
        with self._lock:
            return [dict(r) for r in self._log]

    def refresh_token_for(self, user, token=None):
        """A refresh token (docker config `identitytoken`) for `user`, usable with grant_type=refresh_token.
        `token`: register that string (e.g. one minted by a front end such as the ACR stand-in) instead of
        a random one."""
        tok = token or secrets.token_urlsafe(24)
        with self._lock:
            self._refresh[tok] = user
        return tok

    # -- internals
    def _allowed(self, user, typ, name, actions):
        if self.permissions is None:
            return list(actions) if user else []
        rules = self.permissions.get(user, {})
        allowed = set()
        for pattern, acts in rules.items():
            if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(f"{typ}:{name}", pattern):
                allowed.update(acts)
        return [a for a in actions if a in allowed or "*" in allowed]

    def _token(self, user, scopes):
        access = []
        for scope in scopes:
            parsed = _parse_scope(scope)
            if not parsed:
                continue
            typ, name, actions = parsed
            granted = self._allowed(user, typ, name, actions)
            if granted:
                access.append({"type": typ, "name": name, "actions": granted})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "kid": self.kid}
        claims = {"iss": self.issuer, "sub": user, "aud": self.service, "exp": now + self.ttl, "nbf": now - 1,
                  "iat": now, "jti": uuid.uuid4().hex, "access": access}
        signing_input = (_b64u(json.dumps(header).encode()) + "." + _b64u(json.dumps(claims).encode())).encode()
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        r, s = decode_dss_signature(self.key.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        return signing_input.decode() + "." + _b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big")), access

    def _basic_user(self, header):
        """None: no Basic header; False: bad credentials; else the user name."""
        if not header.startswith("Basic "):
            return None
        try:
            user, _, pw = base64.b64decode(header[6:]).decode().partition(":")
        except Exception:
            return False
        return user if user in self.users and self.users[user] == pw else False

    def _handle(self, h, method):
        url = urllib.parse.urlsplit(h.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        form = {}
        if method == "POST":
            length = int(h.headers.get("Content-Length") or 0)
            form = urllib.parse.parse_qs(h.rfile.read(length).decode(), keep_blank_values=True)
        params = form if method == "POST" else query
        first = lambda k: (params.get(k) or [""])[0]  # noqa: E731
        scopes = [s for value in params.get("scope", []) for s in value.split(" ") if s]
        entry = {"method": method, "path": url.path, "service": first("service"), "scopes": scopes,
                 "account": first("account") or first("username"), "grant_type": first("grant_type") or None,
                 "client_id": first("client_id") or None, "user": None, "status": None, "granted": []}
        refresh = None
        if method == "GET":
            user = self._basic_user(h.headers.get("Authorization", ""))
            if user is None:
                user = ""
            if user and first("offline_token") == "true":
                refresh = self.refresh_token_for(user)
        elif entry["grant_type"] == "password":
            user = first("username")
            user = user if user in self.users and self.users[user] == first("password") else False
            if user and first("access_type") == "offline":
                refresh = self.refresh_token_for(user)
        elif entry["grant_type"] == "refresh_token":
            with self._lock:
                user = self._refresh.get(first("refresh_token"), False)
            refresh = first("refresh_token") if user else None
        else:
            user = False
        if url.path != "/token":
            status, body = 404, {"errors": [{"code": "NOT_FOUND", "message": "no such endpoint"}]}
        elif user is False:
            status, body = 401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid credentials"}]}
        else:
            token, access = self._token(user, scopes)
            entry["granted"] = access
            status = 200
            body = {"token": token, "access_token": token, "expires_in": self.ttl,
                    "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            if method == "POST":
                body["scope"] = " ".join(scopes)
            if refresh:
                body["refresh_token"] = refresh
        entry["user"] = None if user is False else user
        entry["status"] = status
        with self._lock:
            self._log.append(entry)
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)


# ------------------------------------------------------------------------------ fault proxy
class Proxy(str):
    """A TCP proxy on 127.0.0.1 in front of `target` ("host:port"); the str value is its "127.0.0.1:PORT".

    The first `times` connections on which a request body grows beyond `drop_after_bytes` bytes
    get exactly `drop_after_bytes` body bytes forwarded, then both sides are closed (the client
    gets a TCP reset, the registry an early EOF). Later connections pass through untouched. Bodies are framed by
    Content-Length; a chunked body counts every byte after its headers. With `raw=True` (used for
    TLS, where HTTP cannot be parsed) every client->server byte counts.
    `cuts` counts the connections cut so far, `connections` all accepted connections.
    """

    def __new__(cls, target, drop_after_bytes=None, times=1, raw=False):
        listener = socket.create_server(("127.0.0.1", 0))
        self = super().__new__(cls, f"127.0.0.1:{listener.getsockname()[1]}")
        self._listener = listener
        host, _, port = target.rpartition(":")
        self.target = (host, int(port))
        self.drop_after_bytes, self.raw = drop_after_bytes, raw
        self._remaining = times if drop_after_bytes is not None else 0
        self.cuts = self.connections = 0
        self._lock = threading.Lock()
        self._socks = set()
        self._stopped = False
        self._thread = threading.Thread(target=self._accept_loop, name=f"proxy-{self}", daemon=True)
        self._thread.start()
        return self

    @property
    def host(self):
        return str(self)

    @property
    def port(self):
        return int(self.rpartition(":")[2])

    def stop(self):
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            socks = list(self._socks)
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        for s in socks:
            _close(s)
        self._thread.join(5)

    def _accept_loop(self):
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                if self._stopped:
                    client.close()
                    return
                self.connections += 1
            try:
                upstream = socket.create_connection(self.target, timeout=10)
                upstream.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._socks.update((client, upstream))
            threading.Thread(target=self._pump_up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client), daemon=True).start()

    def _should_cut(self):
        with self._lock:
            if self._remaining > 0:
                self._remaining -= 1
                self.cuts += 1
                return True
            return False

    def _cut(self, client, upstream):
        try:  # RST to the client (an abrupt network failure, not an orderly close)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            client.close()
        except OSError:
            _close(client)
        _close(upstream)

    def _pump_up(self, client, upstream):
        """client -> registry, counting request-body bytes."""
        limit = self.drop_after_bytes
        buf, in_body, left, count = b"", self.raw, None, 0   # left: body bytes left (None: unbounded)
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    upstream.shutdown(socket.SHUT_WR)
                    return
                if limit is None or (self._remaining <= 0 and not in_body):
                    upstream.sendall(data)
                    continue
                while data:
                    if not in_body:  # forward header bytes at once (a TLS probe must get its answer)
                        before = len(buf)
                        buf += data
                        end = buf.find(b"\r\n\r\n")
                        if end < 0:
                            upstream.sendall(data)
                            data, buf = b"", buf[-65536:]
                            continue
                        used = end + 4 - before
                        upstream.sendall(data[:used])
                        head, data, buf = buf[:end + 4], data[used:], b""
                        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
                        chunked = re.search(rb"(?im)^transfer-encoding:.*chunked", head)
                        left = None if chunked else int(m.group(1)) if m else 0
                        in_body, count = True, 0
                        if left == 0:
                            in_body = False
                        continue
                    take = len(data) if left is None else min(len(data), left)
                    piece, data = data[:take], data[take:]
                    if count + len(piece) > limit and self._should_cut():
                        upstream.sendall(piece[:limit - count])
                        self._cut(client, upstream)
                        return
                    upstream.sendall(piece)
                    count += len(piece)
                    if left is not None:
                        left -= take
                        if left == 0:
                            in_body = False
        except OSError:
            _close(client)
            _close(upstream)

    def _pump_down(self, upstream, client):
        try:
            while True:
                data = upstream.recv(65536)
                if not data:
                    break
                client.sendall(data)
        except OSError:
            pass
        _close(client)
        _close(upstream)
        with self._lock:
            self._socks.discard(client)
            self._socks.discard(upstream)


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


# ------------------------------------------------------------------------------ registry
_ACCESS = re.compile(r'^(\S+) \S+ (\S+) \[([^\]]+)\] "(\S+) (\S+) [^"]*" (\d{3}) (\d+|-)(?: "([^"]*)" "([^"]*)")?')


class Registry:
    """docker-registry 2.8.2 on 127.0.0.1:<port chosen by the registry>.

    Registry(mode="plain"|"tls"|"htpasswd"|"token", users=None, permissions=None, tls=None,
             workdir=None, token_ttl=300, extra_config=None, token_service=None, token_realm=None).start()
    users: {name: password} for htpasswd/token (default {"alice": "s3cret", "reader": "r3ader"}).
    permissions: token mode rules, see TokenServer (the dict is shared, not copied: later changes apply).
    tls: add TLS to any mode (default: mode == "tls").
    workdir: where config, storage, logs, certs go (default: a temp dir removed by stop()).
    token_service / token_realm: token mode's service (the tokens' `aud`, default SERVICE) and the realm
    the registry's Bearer challenges name (default: the token server's own URL), for a front end that
    serves the token endpoint under another name (tests/servers/acr.py).
    """

    DEFAULT_USERS = {"alice": "s3cret", "reader": "r3ader"}

    def __init__(self, mode="plain", users=None, permissions=None, tls=None, workdir=None, token_ttl=300,
                 extra_config=None, token_service=None, token_realm=None):
        if mode not in ("plain", "tls", "htpasswd", "token"):
            raise ValueError(f"unknown registry mode {mode!r}")
        self.mode = mode
        self.tls = (mode == "tls") if tls is None else bool(tls)
        self.users = dict(self.DEFAULT_USERS if users is None else users) if mode in ("htpasswd", "token") else {}
        self.permissions = permissions
        self.token_ttl = token_ttl
        self.token_service, self.token_realm = token_service or SERVICE, token_realm
        self.extra_config = extra_config or {}
        self._own_workdir = workdir is None
        self.workdir = str(workdir) if workdir else tempfile.mkdtemp(prefix="registry-")
        os.makedirs(self.workdir, exist_ok=True)
        self.storage_dir = os.path.join(self.workdir, "data")
        self.access_log_path = os.path.join(self.workdir, "access.log")
        self.stderr_path = os.path.join(self.workdir, "stderr.log")
        self.ca_path = self.cert_dir = None
        self.token_server = None
        self.port = None
        self._proc = None
        self._proxies = []
        self._stderr = []
        self._port_found = threading.Event()
        self._mark = 0
        self._token_mark = 0

    # -- lifecycle
    def start(self):
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _start(self):
        http_cfg = {"addr": "127.0.0.1:0", "secret": "test-secret"}
        if self.tls:
            http_cfg["tls"] = self._make_tls()
        config = {
            "version": "0.1",
            "log": {"level": "info", "accesslog": {"disabled": False}},
            "storage": {"filesystem": {"rootdirectory": self.storage_dir}, "delete": {"enabled": True},
                        "maintenance": {"uploadpurging": {"enabled": False}}},
            "http": http_cfg,
        }
        if self.mode == "htpasswd":
            path = os.path.join(self.workdir, "htpasswd")
            with open(path, "w") as f:
                for user, pw in self.users.items():
                    f.write(_htpasswd_line(user, pw))
            config["auth"] = {"htpasswd": {"realm": "test-realm", "path": path}}
        elif self.mode == "token":
            self.token_server = TokenServer(self.users, self.permissions, service=self.token_service,
                                            ttl=self.token_ttl)
            bundle = os.path.join(self.workdir, "token-signer.crt")
            with open(bundle, "wb") as f:
                f.write(self.token_server.cert_pem)
            config["auth"] = {"token": {"realm": self.token_realm or self.token_server.realm,
                                        "service": self.token_service, "issuer": ISSUER, "rootcertbundle": bundle}}
        _merge(config, self.extra_config)
        config_path = os.path.join(self.workdir, "config.yml")
        with open(config_path, "w") as f:
            json.dump(config, f, indent=1)  # JSON is YAML

        self._access_file = open(self.access_log_path, "wb")
        preexec = _pdeathsig() if threading.current_thread() is threading.main_thread() else None
        self._proc = subprocess.Popen([DOCKER_REGISTRY, "serve", config_path], stdin=subprocess.DEVNULL,
                                      stdout=self._access_file, stderr=subprocess.PIPE, cwd=self.workdir,
                                      preexec_fn=preexec)
        _running.add(self)
        self._reader = threading.Thread(target=self._drain_stderr, name="registry-stderr", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._port_found.wait(0.05):
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self._reader.join(1)
                raise RuntimeError(f"docker-registry did not start (exit {self._proc.poll()}):\n{self.stderr_text()}")
        while True:  # readiness: any HTTP answer to GET /v2/
            try:
                status = self._get_v2()
                if status in (200, 401):
                    break
            except OSError:
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"docker-registry not ready (exit {self._proc.poll()}):\n{self.stderr_text()}")
            time.sleep(0.005)
        self._mark = len(self.requests_log(since_start=True))  # readiness probes are not the test's

    def _get_v2(self):
        if self.tls:
            ctx = ssl.create_default_context(cafile=self.ca_path)
            conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=2, context=ctx)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/v2/")
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    def _drain_stderr(self):
        with open(self.stderr_path, "wb") as out:
            for line in iter(self._proc.stderr.readline, b""):
                out.write(line)
                out.flush()
                text = line.decode(errors="replace").rstrip("\n")
                self._stderr.append(text)
                if self.port is None:
                    m = re.search(r"listening on 127\.0\.0\.1:(\d+)", text)
                    if m:
                        self.port = int(m.group(1))
                        self._port_found.set()

    def stop(self):
        """Kills the registry, its token server and proxies; waits for them. Idempotent."""
        for p in self._proxies:
            p.stop()
        self._proxies = []
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait(10)
            if getattr(self, "_reader", None) is not None:
                self._reader.join(5)
            self._proc.stderr.close()
            self._access_file.close()
            self._proc = None
        if self.token_server is not None:
            self.token_server.stop()
        _running.discard(self)
        if self._own_workdir and os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)

    @property
    def running(self):
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self):
        return self._proc.pid if self._proc else None

    # -- addresses and client options
    @property
    def host(self):
        """'127.0.0.1:PORT' (registry part of an image reference)."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self):
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def creds(self, user):
        """'user:password' for skopeo --creds."""
        return f"{user}:{self.users[user]}"

    def client_options(self, user=None):
        """Keyword arguments for make_base_image/skopeo_inspect/pull_and_unpack: creds, tls_verify, cert_dir."""
        return {"creds": self.creds(user) if user else None, "tls_verify": self.tls,
                "cert_dir": self.cert_dir if self.tls else None}

    def refresh_token(self, user):
        """Token mode: a refresh token (docker config `identitytoken`) for `user`."""
        return self.token_server.refresh_token_for(user)

    def _make_tls(self):
        import trustme

        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        tls_dir = os.path.join(self.workdir, "tls")
        self.cert_dir = os.path.join(self.workdir, "certs.d")
        os.makedirs(tls_dir, exist_ok=True)
        os.makedirs(self.cert_dir, exist_ok=True)
        self.ca_path = os.path.join(self.cert_dir, "ca.crt")
        ca.cert_pem.write_to_path(self.ca_path)
        crt, key = os.path.join(tls_dir, "server.crt"), os.path.join(tls_dir, "server.key")
        cert.private_key_pem.write_to_path(key)
        with open(crt, "wb") as f:
            for blob in cert.cert_chain_pems:
                f.write(blob.bytes())
        return {"certificate": crt, "key": key}

    # -- logs
    def stderr_text(self):
        """The registry's log (stderr) so far."""
        return "\n".join(self._stderr)

    def mark(self):
        """Later requests_log()/blob_uploads()/manifest_puts()/token_requests() only report what follows."""
        self._mark = len(self.requests_log(since_start=True))
        if self.token_server:
            self._token_mark = len(self.token_server.requests())

    def requests_log(self, since_start=False):
        """Access log entries since mark() (or start): dicts method, path, query, status, size, user_agent."""
        out = []
        try:
            with open(self.access_log_path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except FileNotFoundError:
            return out
        for line in lines:
            m = _ACCESS.match(line)
            if not m:
                continue
            parts = urllib.parse.urlsplit(m.group(5))
            out.append({"method": m.group(4), "path": parts.path, "query": parts.query, "status": int(m.group(6)),
                        "size": 0 if m.group(7) == "-" else int(m.group(7)), "user_agent": m.group(9) or ""})
        return out if since_start else out[self._mark:]

    def blob_uploads(self, since_start=False):
        """Digests of completed blob uploads (PUT .../blobs/uploads/...?digest= -> 201) since mark()/start."""
        out = []
        for r in self.requests_log(since_start):
            if r["method"] == "PUT" and "/blobs/uploads/" in r["path"] and r["status"] == 201:
                digest = urllib.parse.parse_qs(r["query"]).get("digest")
                if digest:
                    out.append(digest[0])
        return out

    def blob_mounts(self, since_start=False):
        """(repo, digest, from) of successful cross-repo mounts (POST ...uploads/?mount=&from= -> 201)."""
        out = []
        for r in self.requests_log(since_start):
            if r["method"] == "POST" and r["path"].endswith("/blobs/uploads/") and r["status"] == 201:
                q = urllib.parse.parse_qs(r["query"])
                if "mount" in q:
                    out.append((r["path"][4:-len("/blobs/uploads/")], q["mount"][0], (q.get("from") or [""])[0]))
        return out

    def manifest_puts(self, since_start=False):
        """(repo, reference) of successful manifest PUTs since mark()/start."""
        out = []
        for r in self.requests_log(since_start):
            m = re.match(r"^/v2/(.+)/manifests/([^/]+)$", r["path"])
            if r["method"] == "PUT" and m and r["status"] == 201:
                out.append((m.group(1), urllib.parse.unquote(m.group(2))))
        return out

    def token_requests(self, since_start=False):
        """Token mode: the token server's request log (see TokenServer.requests) since mark()/start."""
        if not self.token_server:
            return []
        log = self.token_server.requests()
        return log if since_start else log[self._token_mark:]

    # -- faults
    def proxy(self, drop_after_bytes=None, times=1):
        """A Proxy ("127.0.0.1:PORT") forwarding to this registry; cuts the first `times` connections
        whose request body exceeds `drop_after_bytes` (raw bytes for TLS). Stopped with the registry."""
        p = Proxy(self.host, drop_after_bytes=drop_after_bytes, times=times, raw=self.tls)
        self._proxies.append(p)
        return p

    def __repr__(self):
        return f"<Registry {self.mode}{'+tls' if self.tls and self.mode != 'tls' else ''} {self.url}>"


def _merge(base, extra):
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def _htpasswd_line(user, password):
    exe = shutil.which("htpasswd")
    if not exe:
        raise RuntimeError("htpasswd not found: apt-get install apache2-utils")
    out = subprocess.run([exe, "-Bbn", user, password], capture_output=True, text=True, check=True).stdout
    return out.strip() + "\n"


# ------------------------------------------------------------------------------ skopeo / umoci
_tool_home = None


def _tool_env():
    """Environment for skopeo/umoci: an empty HOME and XDG_RUNTIME_DIR, so no user auth file leaks in.
    (skopeo's blob-info cache, /var/lib/containers/cache for root, stays shared: it makes skopeo
    try cross-repo mounts of blobs it pushed before.)"""
    global _tool_home
    if _tool_home is None:
        _tool_home = tempfile.mkdtemp(prefix="skopeo-home-")
        atexit.register(shutil.rmtree, _tool_home, True)
        with open(os.path.join(_tool_home, "policy.json"), "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
    env = {k: v for k, v in os.environ.items()
           if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME")}
    env["HOME"] = env["XDG_RUNTIME_DIR"] = _tool_home  # auth.json/config.json lookups all land here
    return env


def run_tool(*args, timeout=120, authfile=None):
    """Runs skopeo/umoci (args[0]) in an isolated environment; raises SkopeoError on failure."""
    env = _tool_env()
    if authfile:
        env["REGISTRY_AUTH_FILE"] = str(authfile)
    cmd = [str(a) for a in args]
    proc = subprocess.run(cmd, capture_output=True, env=env, timeout=timeout, stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise SkopeoError(cmd, proc.returncode, proc.stderr.decode(errors="replace"))
    return proc.stdout


def _creds(creds):
    return creds if creds is None or isinstance(creds, str) else f"{creds[0]}:{creds[1]}"


def _transport_opts(prefix, creds, tls_verify, cert_dir):
    opts = [f"--{prefix}tls-verify={'true' if tls_verify or cert_dir else 'false'}"]
    if cert_dir:
        opts.append(f"--{prefix}cert-dir={cert_dir}")
    if creds:
        opts.append(f"--{prefix}creds={_creds(creds)}")
    return opts


def _docker_ref(ref):
    return ref if ref.startswith("docker://") else "docker://" + ref


def _arch_opts(arch, variant=None):
    out = [f"--override-arch={arch}"] if arch else []
    return out + ([f"--override-variant={variant}"] if variant else [])


def skopeo_copy(src, dest, all=False, src_creds=None, dest_creds=None, src_tls_verify=False, dest_tls_verify=False,
                src_cert_dir=None, dest_cert_dir=None, format=None, arch=None, authfile=None):
    """`skopeo copy` between two references ("docker://..", "oci:dir:tag", ...); returns stdout text."""
    args = ["skopeo", *_arch_opts(arch), "copy", "--policy", os.path.join(_tool_home_dir(), "policy.json")]
    if all:
        args.append("--all")
    if format:
        args.append(f"--format={format}")
    if src.startswith("docker://"):
        args += _transport_opts("src-", src_creds, src_tls_verify, src_cert_dir)
    if dest.startswith("docker://"):
        args += _transport_opts("dest-", dest_creds, dest_tls_verify, dest_cert_dir)
    return run_tool(*args, src, dest, authfile=authfile).decode()


def _tool_home_dir():
    _tool_env()
    return _tool_home


def skopeo_inspect_bytes(ref, config=False, creds=None, tls_verify=False, cert_dir=None, arch=None, authfile=None):
    """Raw bytes of the manifest (or with config=True the config blob) as the registry stores them."""
    args = ["skopeo", *_arch_opts(arch), "inspect", "--raw", *(["--config"] if config else []),
            *_transport_opts("", creds, tls_verify, cert_dir), _docker_ref(ref)]
    return run_tool(*args, authfile=authfile)


def skopeo_inspect(ref, raw=False, config=False, creds=None, tls_verify=False, cert_dir=None, arch=None,
                   authfile=None):
    """`skopeo inspect` of "host/repo:tag" (or "host/repo@sha256:.."), parsed JSON.

    raw: the stored manifest/index; config: the image config (with raw: the stored config blob);
    neither: skopeo's summary (Digest, Architecture, Env, Layers, ...) for the platform `arch`
    (default: the host's)."""
    args = ["skopeo", *_arch_opts(arch), "inspect", *(["--raw"] if raw else []), *(["--config"] if config else []),
            *_transport_opts("", creds, tls_verify, cert_dir), _docker_ref(ref)]
    return json.loads(run_tool(*args, authfile=authfile))


def manifest_digest(ref, **kw):
    """sha256 digest of the manifest/index a reference points to (as stored)."""
    return "sha256:" + hashlib.sha256(skopeo_inspect_bytes(ref, **kw)).hexdigest()


def pull_and_unpack(ref, dest, creds=None, tls_verify=False, cert_dir=None, arch=None, variant=None, authfile=None):
    """Pulls one platform of `ref` with skopeo into an OCI layout under `dest` and unpacks it with
    `umoci unpack --rootless`. Returns (rootfs_path, runtime config.json dict: process.env = Env +
    TERM=xterm, process.args = Entrypoint + Cmd). `arch` picks the platform of an index (default: host)."""
    dest = str(dest)
    os.makedirs(dest, exist_ok=True)
    layout, bundle = os.path.join(dest, "layout"), os.path.join(dest, "bundle")
    args = ["skopeo", *_arch_opts(arch, variant), "copy", "--policy", os.path.join(_tool_home_dir(), "policy.json"),
            *_transport_opts("src-", creds, tls_verify, cert_dir), _docker_ref(ref), f"oci:{layout}:t"]
    run_tool(*args, authfile=authfile)
    run_tool("umoci", "unpack", "--rootless", "--image", f"{layout}:t", bundle)
    with open(os.path.join(bundle, "config.json")) as f:
        return os.path.join(bundle, "rootfs"), json.load(f)


def entrypoint_command(rootfs, runtime, python, port, workers=1):
    """The unpacked image's entrypoint (the native model server's) as a command for this machine: the files it
    names under / taken from `rootfs`, `python` for the image's python3 (the rootfs's cannot run here), listening
    on 127.0.0.1:`port`. Everything else (SageMaker's `serve` included) is kept as the image has it."""
    args, out, i = list(runtime["process"]["args"]), [], 0
    out.append(os.path.join(rootfs, args[0].lstrip("/")))
    i = 1
    while i < len(args):
        flag = args[i]
        if flag in ("--model", "--worker-script"):
            out += [flag, os.path.join(rootfs, args[i + 1].lstrip("/"))]
        elif flag == "--host":
            out += [flag, "127.0.0.1"]
        elif flag == "--port":
            out += [flag, str(port)]
        elif flag == "--python":
            out += [flag, python]
        else:
            out.append(flag)
            i += 1
            continue
        i += 2
    return out[:1] + ["--workers", str(workers)] + out[1:]


def entrypoint_env(rootfs, runtime, home):
    """The image's environment for entrypoint_command: PYTHONPATH's folders taken from `rootfs`."""
    env = dict(e.split("=", 1) for e in runtime["process"]["env"])
    env.update(PATH="/usr/bin:/bin", HOME=str(home))
    if env.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.pathsep.join(os.path.join(rootfs, p.lstrip("/")) for p in env["PYTHONPATH"].split(":"))
    return env


def start_entrypoint(rootfs, runtime, python, port, folder):
    """Starts the unpacked image's entrypoint (entrypoint_command with `python` for the image's python3,
    entrypoint_env with HOME=`folder`) on 127.0.0.1:`port`, as a container runtime would run it; see start_server."""
    return start_server(entrypoint_command(rootfs, runtime, python, port), entrypoint_env(rootfs, runtime, folder),
                        port, folder)


def start_server(cmd, env, port, folder):
    """Starts a model server process, its output in <folder>/server.log; returns it once /ping on
    127.0.0.1:`port` answers 200. Fails with the log's tail if the process exits first; 600 s bound a hung start
    (importing mlflow on a busy machine is slow)."""
    import urllib.request

    log = os.path.join(str(folder), "server.log")
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 600
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/ping", timeout=2).read()
            return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                with open(log, errors="replace") as f:
                    raise AssertionError("the server did not answer /ping:\n" + f.read()[-3000:])
            time.sleep(0.2)


# ------------------------------------------------------------------------------ base images
DEFAULT_ENV = {
    "PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "LANG": "C.UTF-8",
    "PYTHON_VERSION": "3.11.9",
}


def _platform(p):
    parts = p.split("/")
    if len(parts) not in (2, 3):
        raise ValueError(f"platform {p!r}: want os/arch[/variant]")
    out = {"architecture": parts[1], "os": parts[0]}
    if len(parts) == 3:
        out["variant"] = parts[2]
    return out


def _tar_layer(files):
    """files: {path: bytes | str | (content, mode) | ("symlink", target)} -> (tar bytes, gzip bytes).
    Deterministic: sorted, parents added, mtime 0, uid/gid 0, gzip mtime 0."""
    entries = {}
    for path, content in files.items():
        path = path.strip("/")
        parts = path.split("/")
        for i in range(1, len(parts)):
            entries.setdefault("/".join(parts[:i]), ("dir", None, 0o755))
        if isinstance(content, tuple) and content[0] == "symlink":
            entries[path] = ("symlink", content[1], 0o777)
        else:
            data, mode = content if isinstance(content, tuple) else (content, None)
            data = data.encode() if isinstance(data, str) else bytes(data)
            if mode is None:
                mode = 0o755 if data.startswith(b"#!") else 0o644
            entries[path] = ("file", data, mode)
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            kind, data, mode = entries[name]
            ti = tarfile.TarInfo(name)
            ti.mtime, ti.mode, ti.uid, ti.gid, ti.uname, ti.gname = 0, mode, 0, 0, "root", "root"
            if kind == "dir":
                ti.type = tarfile.DIRTYPE
                tar.addfile(ti)
            elif kind == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, data
                tar.addfile(ti)
            else:
                ti.size = len(data)
                tar.addfile(ti, io.BytesIO(data))
    tar_bytes = raw.getvalue()
    return tar_bytes, gzip.compress(tar_bytes, mtime=0)


def build_oci_layout(out, tag, platforms=("linux/amd64",), env=None, files=None, extra_layers=(), cmd=("python3",),
                     entrypoint=None, labels=None, index=None):
    """Writes a tiny deterministic image into the OCI layout `out` under `tag`; returns its description
    (same shape as make_base_image). One base layer per platform (/etc/os-release naming the
    platform, /usr/bin/python3 script, /usr/bin/python -> python3, + `files`), then `extra_layers`
    (list of files dicts, identical across platforms). index: tag names an index (default: when
    more than one platform) or a single manifest."""
    os.makedirs(os.path.join(out, "blobs", "sha256"), exist_ok=True)
    env_map = dict(DEFAULT_ENV)
    for k, v in (env or {}).items():
        if v is None:
            env_map.pop(k, None)
        else:
            env_map[k] = v
    if index is None:
        index = len(platforms) > 1
    elif not index and len(platforms) != 1:
        raise ValueError("index=False needs exactly one platform")

    def blob(data, media_type):
        digest = hashlib.sha256(data).hexdigest()
        with open(os.path.join(out, "blobs", "sha256", digest), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}

    extra = [_tar_layer(layer) for layer in extra_layers]
    result = {"manifests": {}, "layers": {}, "diff_ids": {}, "configs": {}, "config_digests": {}}
    descriptors = []
    for p in platforms:
        plat = _platform(p)
        base_files = {
            "etc/os-release": f'NAME="tiny"\nID=tiny\nPLATFORM={p}\n',
            "usr/bin/python3": f"#!/bin/sh\necho Python {env_map.get('PYTHON_VERSION', '3')}\n",
            "usr/bin/python": ("symlink", "python3"),
        }
        base_files.update(files or {})
        layers = [_tar_layer(base_files)] + extra
        layer_descs = [blob(gz, OCI_LAYER) for _, gz in layers]
        diff_ids = ["sha256:" + hashlib.sha256(t).hexdigest() for t, _ in layers]
        container = {"Env": [f"{k}={v}" for k, v in env_map.items()]}
        if cmd is not None:
            container["Cmd"] = list(cmd)
        if entrypoint is not None:
            container["Entrypoint"] = list(entrypoint)
        if labels:
            container["Labels"] = dict(labels)
        cfg = {"created": "1970-01-01T00:00:00Z", **plat, "config": container,
               "rootfs": {"type": "layers", "diff_ids": diff_ids},
               "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "registry.py make_base_image"}
                           for _ in layers]}
        cdesc = blob(json.dumps(cfg, sort_keys=True, separators=(",", ":")).encode(), OCI_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": cdesc, "layers": layer_descs}
        mdesc = blob(json.dumps(manifest, separators=(",", ":")).encode(), OCI_MANIFEST)
        result["manifests"][p] = mdesc["digest"]
        result["layers"][p] = [d["digest"] for d in layer_descs]
        result["diff_ids"][p] = diff_ids
        result["configs"][p] = cfg
        result["config_digests"][p] = cdesc["digest"]
        descriptors.append({**mdesc, "platform": plat})
    if index:
        idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
        top = blob(json.dumps(idx, separators=(",", ":")).encode(), OCI_INDEX)
    else:
        top = {k: v for k, v in descriptors[0].items() if k != "platform"}
    top["annotations"] = {"org.opencontainers.image.ref.name": tag}
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [top]}, f)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    result.update(digest=top["digest"], media_type=top["mediaType"], config=result["configs"][platforms[0]])
    return result


def _repo_of(ref):
    """'host:port/a/b:tag' or 'host:port/a/b@sha256:..' -> 'host:port/a/b'."""
    name = ref[len("docker://"):] if ref.startswith("docker://") else ref
    name = name.split("@")[0]
    if ":" in name.rsplit("/", 1)[-1]:
        name = name.rsplit(":", 1)[0]
    return name


def read_image(ref, creds=None, tls_verify=False, cert_dir=None, authfile=None):
    """Describes what `ref` points to in a registry, read back with skopeo (make_base_image's shape):
    digest, media_type, manifests/layers/configs/config_digests/diff_ids per "os/arch[/variant]"."""
    kw = {"creds": creds, "tls_verify": tls_verify, "cert_dir": cert_dir, "authfile": authfile}
    repo = _repo_of(ref)
    raw = skopeo_inspect_bytes(ref, **kw)
    top = json.loads(raw)
    result = {"ref": ref, "digest": "sha256:" + hashlib.sha256(raw).hexdigest(),
              "media_type": top.get("mediaType"), "manifests": {}, "layers": {}, "diff_ids": {}, "configs": {},
              "config_digests": {}}
    if top.get("mediaType") in INDEX_TYPES or "manifests" in top:
        entries = [("/".join(filter(None, (d["platform"]["os"], d["platform"]["architecture"],
                                           d["platform"].get("variant")))), d["digest"]) for d in top["manifests"]]
    else:
        entries = [(None, result["digest"])]
    for plat, digest in entries:
        mraw = raw if plat is None else skopeo_inspect_bytes(f"{repo}@{digest}", **kw)
        manifest = json.loads(mraw)
        craw = skopeo_inspect_bytes(f"{repo}@{digest}", config=True, **kw)
        cfg = json.loads(craw)
        if plat is None:
            plat = "/".join(filter(None, (cfg.get("os"), cfg.get("architecture"), cfg.get("variant"))))
        result["manifests"][plat] = digest
        result["layers"][plat] = [d["digest"] for d in manifest["layers"]]
        result["diff_ids"][plat] = cfg.get("rootfs", {}).get("diff_ids", [])
        result["configs"][plat] = cfg
        result["config_digests"][plat] = manifest["config"]["digest"]
    result["config"] = next(iter(result["configs"].values()))
    return result


def make_base_image(host, repo, tag, platforms=("linux/amd64",), media="oci", env=None, files=None, creds=None,
                    tls_verify=False, cert_dir=None, extra_layers=(), cmd=("python3",), entrypoint=None, labels=None,
                    index=None, authfile=None):
    """Builds a tiny deterministic base image (no docker) and pushes it to host/repo:tag with
    `skopeo copy --all`. media="docker" pushes Docker schema 2 (`--format v2s2`: manifest list for
    several platforms). env: {KEY: value or None to drop} over DEFAULT_ENV. files: {path: bytes|str|
    (content, mode)|("symlink", target)} added to every platform's layer.

    Returns {"ref", "digest" (what the tag points to), "media_type", "manifests" {platform: digest},
    "layers" {platform: [digests]}, "diff_ids", "configs" {platform: config}, "config_digests",
    "config" (first platform's)}. For media="docker" everything is read back from the registry
    (skopeo rewrites manifests and configs); for "oci" it is the local layout, checked against the
    registry's digest of the tag."""
    if media not in ("oci", "docker"):
        raise ValueError("media must be 'oci' or 'docker'")
    ref = f"{host}/{repo}:{tag}"
    with tempfile.TemporaryDirectory(prefix="base-image-") as tmp:
        layout = os.path.join(tmp, "layout")
        local = build_oci_layout(layout, tag, platforms, env=env, files=files, extra_layers=extra_layers, cmd=cmd,
                                 entrypoint=entrypoint, labels=labels, index=index)
        skopeo_copy(f"oci:{layout}:{tag}", _docker_ref(ref), all=True, dest_creds=creds, dest_tls_verify=tls_verify,
                    dest_cert_dir=cert_dir, format="v2s2" if media == "docker" else None, authfile=authfile)
    if media == "docker":
        return read_image(ref, creds=creds, tls_verify=tls_verify, cert_dir=cert_dir, authfile=authfile)
    pushed = manifest_digest(ref, creds=creds, tls_verify=tls_verify, cert_dir=cert_dir, authfile=authfile)
    if pushed != local["digest"]:
        raise AssertionError(f"{ref}: registry has {pushed}, layout had {local['digest']}")
    local["ref"] = ref
    return local
