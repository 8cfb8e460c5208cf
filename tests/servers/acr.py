"""Azure Container Registry on loopback, served by the Azure stand-in (tests/servers/azureml.py).

    with AzureStandIn() as az:
        acr = az.add_container_registry("standinacr")   # login server standinacr.azurecr.io
        az.add_principal("app-id", secret="s3cret")
        with az.patch_resolver():
            ContainerRegistryClient("https://standinacr.azurecr.io", ClientSecretCredential(...), audience=...)

`AcrStandIn` puts ACR's token service in front of a real OCI registry: Debian's docker-registry in
token mode (registry.Registry("token")), whose Bearer challenges name the ACR host as real ACR's do
(`Bearer realm="https://<login server>/oauth2/token",service="<login server>"`) and which trusts the
ES256 access tokens of registry.TokenServer. Wire formats follow github.com/Azure/acr docs/AAD-OAuth.md
and the recorded ACR traffic of Microsoft's SDK tests:

  * POST /oauth2/exchange (form): grant_type=access_token (access_token_refresh_token is taken the same
    way: the stand-in issues no Entra refresh tokens, so that part is not checked; refresh_token alone
    answers 401), service = the login server, access_token = a live Entra token of the Azure stand-in
    (token_info) for ARM (ARM_AUDIENCES) or https://containerregistry.azure.net, tenant (optional) =
    the token's tenant -> 200 {"refresh_token": JWT}. The JWT is ES256 (a key of this stand-in, not
    the registry's) with ACR's claims: jti, sub (client id), nbf, iat, exp (stand-in clock + 3 h), iss
    "Azure Container Registry", aud (login server), version, grant_type "refresh_token", tenant, appid,
    permissions {actions, notActions}, roles.
  * POST /oauth2/token (form grant_type=refresh_token, service, scope (repeated or space separated),
    refresh_token) and GET /oauth2/token?service=..&scope=.. with Basic
    00000000-0000-0000-0000-000000000000:<refresh token> (`docker login` with an ACR refresh token)
    -> 200 {"access_token": JWT from the TokenServer}. Unknown or expired (stand-in clock) refresh
    tokens, other Basic users, anonymous requests and grant_type=password: 401.
  * /v2/...: proxied to docker-registry (method, path and query as sent, headers with Host = the login
    server and X-Forwarded-Proto: https, body); status, headers and body come back as the registry
    sent them (HEAD: no body, its Content-Length). Locations are relative ("/v2/<repo>/blobs/uploads/
    <uuid>?_state=..."), as ACR sends them; relative_urls=False makes them https://<login server>/...
  * /acr/v1 (ACR's own metadata API, read-only here): GET _catalog (scope registry:catalog:*),
    <repo> (repository properties), <repo>/_tags[/<tag>], <repo>/_manifests[/<digest>] (scope
    repository:<repo>:metadata_read), with n/last paging through Link headers as ACR pages. Times are
    when the manifest or tag was pushed through this stand-in (stand-in clock). Other methods: 405.

Errors are ACR's JSON {"errors": [{"code", "message"[, "detail"]}]}: 400 for malformed requests
(missing fields, unsupported grant types, wrong content type), 401 UNAUTHORIZED for refused
credentials (with a Bearer challenge on /acr/v1, as ACR sends it). Access tokens are the registry's:
they expire on the real clock (access_token_ttl), not the stand-in's.

Authorization: every principal that completed an exchange gets every action (AcrPush and more);
deny(client_id) gives its tokens no access at all (the registry answers 401 UNAUTHORIZED, as ACR does
for a principal without a role on the registry), allow(client_id, rules) restores it or sets
TokenServer rules such as {"*": ["pull", "metadata_read"]} (AcrPull).

Inspection: `requests` (method, path, grant_type, service, scopes, status, principal; never tokens),
`registry` (the Registry: access log, token_requests()).
"""
import base64
import datetime
import http.client
import json
import re
import threading
import time
import urllib.parse
import uuid

import registry as rs

ACR_SUFFIX = ".azurecr.io"
NULL_GUID = "00000000-0000-0000-0000-000000000000"
CONTAINER_REGISTRY_AUDIENCE = "https://containerregistry.azure.net"
REFRESH_TOKEN_LIFETIME = 3 * 3600
ISSUER = "Azure Container Registry"
INTERNAL_USER = "acr-standin"          # the stand-in's own registry reads (/acr/v1)
NAME_RE = re.compile(r"^[a-zA-Z0-9]{5,50}$")
MANIFEST_TYPES = (rs.OCI_MANIFEST, rs.OCI_INDEX, rs.DOCKER_MANIFEST, rs.DOCKER_LIST)
IMAGE_CONFIG_TYPES = (rs.OCI_CONFIG, "application/vnd.docker.container.image.v1+json")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
              "content-length", "host", "date", "server"}
ALL_ENABLED = {"deleteEnabled": True, "writeEnabled": True, "readEnabled": True, "listEnabled": True}
AUTH_REQUIRED = "authentication required, visit https://aka.ms/acr/authorization for more information."


def _iso(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _b64u_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jwt_claims(token):
    """The payload of a JWT, unverified (None if it is not one)."""
    try:
        claims = json.loads(_b64u_decode(token.split(".")[1]))
        return claims if isinstance(claims, dict) else None
    except (ValueError, IndexError):
        return None


class AcrError(Exception):
    def __init__(self, status, code, message, detail=None, challenge=None):
        super().__init__(message)
        self.status, self.code, self.message, self.detail, self.challenge = status, code, message, detail, challenge


class AcrStandIn:
    """One registry, `<name>.azurecr.io`, served through `azure` (an AzureStandIn: its clock, its Entra
    tokens, its TLS listener). AzureStandIn.add_container_registry() makes and starts these."""

    def __init__(self, azure, name="standinacr", *, audiences, relative_urls=True, access_token_ttl=4500,
                 workdir=None):
        if not NAME_RE.match(name):
            raise ValueError(f"registry name {name!r}: ACR names are 5-50 letters and digits")
        self.azure = azure
        self.audiences = {a.rstrip("/") for a in audiences}   # Entra token audiences the exchange takes
        self.name = name.lower()
        self.login_server = self.name + ACR_SUFFIX
        self.requests = []              # see the module docstring; never tokens
        self._lock = threading.Lock()
        self._grants = {INTERNAL_USER: {"*": ["*"]}}   # TokenServer permissions (shared dict)
        self._denied = set()
        self._refresh = {}              # ACR refresh token -> {client_id, tenant, expires}
        self._manifests = {}            # (repo, digest) -> {created, updated}: pushed through the stand-in
        self._tags = {}                 # (repo, tag) -> {created, updated}
        self._internal = None           # refresh token of INTERNAL_USER at the TokenServer
        self._internal_tokens = {}      # scopes -> (access token, real-clock expiry)
        self._access_token_ttl = access_token_ttl
        from cryptography.hazmat.primitives.asymmetric import ec

        self._key = ec.generate_private_key(ec.SECP256R1())
        self._kid = rs.libtrust_kid(self._key.public_key())
        self.registry = rs.Registry("token", users={}, permissions=self._grants, workdir=workdir,
                                    token_ttl=access_token_ttl, token_service=self.login_server,
                                    token_realm=f"https://{self.login_server}/oauth2/token",
                                    extra_config={"http": {"relativeurls": bool(relative_urls)}})

    # ---------------------------------------------------------------- lifecycle and controls
    def start(self):
        self.registry.start()
        self._internal = self.registry.token_server.refresh_token_for(INTERNAL_USER)
        return self

    def stop(self):
        self.registry.stop()

    @property
    def url(self):
        return f"https://{self.login_server}"

    def deny(self, client_id):
        """`client_id`'s ACR tokens grant nothing from now on (no role on the registry)."""
        with self._lock:
            self._denied.add(client_id)
            self._grants[client_id] = {}

    def allow(self, client_id, rules=None):
        """Undoes deny(); `rules` (TokenServer form, default {"*": ["*"]}) limit what its tokens grant,
        e.g. {"*": ["pull", "metadata_read"]} for AcrPull."""
        with self._lock:
            self._denied.discard(client_id)
            self._grants[client_id] = dict(rules or {"*": ["*"]})

    def issue_refresh_token(self, client_id, tenant=None, lifetime=REFRESH_TOKEN_LIFETIME):
        """An ACR refresh token for `client_id` without the exchange (what /oauth2/exchange hands out)."""
        return self._mint_refresh(client_id, tenant or self.azure.tenant, lifetime)

    # ---------------------------------------------------------------- dispatch
    def handle(self, h, method, path, query, body):
        """One request for this registry: `path` and `query` as sent (percent-encoded, query without '?')."""
        entry = {"method": method, "path": path, "grant_type": None, "service": None, "scopes": [], "status": None,
                 "principal": None, "time": self.azure._now()}
        with self._lock:
            self.requests.append(entry)
        h.acr_entry = entry
        try:
            if path == "/oauth2/exchange":
                self._exchange(h, method, body, entry)
            elif path == "/oauth2/token":
                self._token(h, method, query, body, entry)
            elif path == "/acr/v1" or path.startswith("/acr/v1/"):
                self._acr_v1(h, method, path, query, entry)
            else:
                self._proxy(h, method, path, query, body, entry)
        except AcrError as e:
            self._error(h, e)

    def _send(self, h, status, body, content_type=None, headers=None, head_length=None):
        """Every reply: both request logs are complete before the client can read the answer."""
        h.acr_entry["status"] = status
        h.entry["client"] = h.acr_entry["principal"]
        self.azure._reply(h, status, body, content_type, headers, head_length)

    def _reply(self, h, status, obj, headers=None):
        hdrs = {"X-Ms-Correlation-Request-Id": str(uuid.uuid4()), "Strict-Transport-Security":
                "max-age=31536000; includeSubDomains"}
        hdrs.update(headers or {})
        self._send(h, status, json.dumps(obj).encode(), "application/json; charset=utf-8", hdrs)

    def _error(self, h, e):
        err = {"code": e.code, "message": e.message}
        if e.detail is not None:
            err["detail"] = e.detail
        headers = {"Docker-Distribution-Api-Version": "registry/2.0"}
        if e.challenge:
            headers["WWW-Authenticate"] = e.challenge
        self._reply(h, e.status, {"errors": [err]}, headers)

    @staticmethod
    def _form(h, body):
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype != "application/x-www-form-urlencoded":
            raise AcrError(400, "BAD_REQUEST", "the request body must be application/x-www-form-urlencoded")
        return urllib.parse.parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)

    # ---------------------------------------------------------------- /oauth2/exchange
    def _exchange(self, h, method, body, entry):
        if method != "POST":
            raise AcrError(405, "UNSUPPORTED", "The operation is unsupported: POST /oauth2/exchange.")
        form = self._form(h, body)
        first = lambda k: (form.get(k) or [""])[-1]  # noqa: E731
        grant, service = first("grant_type"), first("service")
        entry["grant_type"], entry["service"] = grant or None, service or None
        if not grant:
            raise AcrError(400, "BAD_REQUEST", "grant_type is required")
        if grant not in ("access_token", "access_token_refresh_token", "refresh_token"):
            raise AcrError(400, "BAD_REQUEST", f"unsupported grant_type '{grant}': use access_token")
        if not service:
            raise AcrError(400, "BAD_REQUEST", "service is required")
        if grant == "access_token_refresh_token" and not first("refresh_token"):
            raise AcrError(400, "BAD_REQUEST", "refresh_token is required for grant_type access_token_refresh_token")
        if grant == "refresh_token":
            if not first("refresh_token"):
                raise AcrError(400, "BAD_REQUEST", "refresh_token is required for grant_type refresh_token")
            raise AcrError(401, "UNAUTHORIZED", "the AAD refresh token is invalid or expired")
        if service.lower() != self.login_server:
            raise AcrError(401, "UNAUTHORIZED", f"the service '{service}' does not match the registry "
                                                f"'{self.login_server}'")
        aad = first("access_token")
        if not aad:
            raise AcrError(400, "BAD_REQUEST", f"access_token is required for grant_type {grant}")
        info = self.azure.token_info(aad)
        if info is None:
            raise AcrError(401, "UNAUTHORIZED", "the AAD access token is invalid")
        entry["principal"] = info["client_id"]
        if info["expires"] <= self.azure._now():
            raise AcrError(401, "UNAUTHORIZED", "the AAD access token has expired")
        if (info["audience"] or "").rstrip("/") not in self.audiences:
            raise AcrError(401, "UNAUTHORIZED", f"the AAD access token has the audience '{info['audience']}': "
                                                "expected Azure Resource Manager or "
                                                f"{CONTAINER_REGISTRY_AUDIENCE}")
        tenant = first("tenant")
        if tenant and tenant != info["tenant"]:
            raise AcrError(401, "UNAUTHORIZED", f"the AAD access token was not issued by the tenant '{tenant}'")
        refresh = self._mint_refresh(info["client_id"], info["tenant"], REFRESH_TOKEN_LIFETIME)
        self._reply(h, 200, {"refresh_token": refresh})

    def _mint_refresh(self, client_id, tenant, lifetime):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

        now = int(self.azure._now())
        with self._lock:
            actions = [] if client_id in self._denied else ["*"]
            if client_id not in self._denied:  # a principal's rules, every action unless allow() said otherwise
                self._grants[client_id] = self._grants.get(client_id) or {"*": ["*"]}
        claims = {"jti": str(uuid.uuid4()), "sub": client_id, "nbf": now, "exp": now + int(lifetime), "iat": now,
                  "iss": ISSUER, "aud": self.login_server, "version": "1.0", "grant_type": "refresh_token",
                  "tenant": tenant, "appid": client_id, "permissions": {"actions": actions, "notActions": []},
                  "roles": []}
        header = {"alg": "ES256", "typ": "JWT", "kid": self._kid}
        signing_input = rs._b64u(json.dumps(header).encode()) + "." + rs._b64u(json.dumps(claims).encode())
        r, s = decode_dss_signature(self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        token = signing_input + "." + rs._b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        with self._lock:
            self._refresh[token] = {"client_id": client_id, "tenant": tenant, "expires": now + int(lifetime)}
        self.registry.token_server.refresh_token_for(client_id, token=token)
        return token

    # ---------------------------------------------------------------- /oauth2/token
    def _token(self, h, method, query, body, entry):
        if method == "POST":
            params = self._form(h, body)
        elif method == "GET":
            params = urllib.parse.parse_qs(query, keep_blank_values=True)
        else:
            raise AcrError(405, "UNSUPPORTED", "The operation is unsupported: GET or POST /oauth2/token.")
        first = lambda k: (params.get(k) or [""])[-1]  # noqa: E731
        service = first("service")
        entry["service"] = service or None
        entry["scopes"] = scopes = [s for v in params.get("scope", []) for s in v.split(" ") if s]
        if method == "POST":
            grant = first("grant_type")
            entry["grant_type"] = grant or None
            if not grant:
                raise AcrError(400, "BAD_REQUEST", "grant_type is required")
            if grant == "password":
                raise AcrError(401, "UNAUTHORIZED", "anonymous pull is disabled and the registry has no admin user "
                                                    "or tokens (stand-in): use an ACR refresh token")
            if grant != "refresh_token":
                raise AcrError(400, "BAD_REQUEST", f"unsupported grant_type '{grant}': use refresh_token")
            refresh = first("refresh_token")
            if not refresh:
                raise AcrError(400, "BAD_REQUEST", "refresh_token is required")
        else:
            auth = (h.headers.get("Authorization") or "").strip()
            if not auth.lower().startswith("basic "):
                raise AcrError(401, "UNAUTHORIZED", AUTH_REQUIRED)
            try:
                user, _, refresh = base64.b64decode(auth[6:].strip()).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise AcrError(400, "BAD_REQUEST", "malformed Basic credentials") from None
            if user != NULL_GUID:
                raise AcrError(401, "UNAUTHORIZED", "the registry has no admin user or tokens (stand-in): sign in "
                                                    f"as {NULL_GUID} with an ACR refresh token")
        if not service:
            raise AcrError(400, "BAD_REQUEST", "service is required")
        if service.lower() != self.login_server:
            raise AcrError(401, "UNAUTHORIZED", f"the service '{service}' does not match the registry "
                                                f"'{self.login_server}'")
        with self._lock:
            rec = self._refresh.get(refresh)
        if rec is None:
            raise AcrError(401, "UNAUTHORIZED", "the refresh token is invalid")
        entry["principal"] = rec["client_id"]
        if rec["expires"] <= self.azure._now():
            raise AcrError(401, "UNAUTHORIZED", "the refresh token has expired")
        self._reply(h, 200, {"access_token": self._access_token(refresh, scopes)})

    def _access_token(self, refresh, scopes):
        """An access token from the TokenServer (grant_type=refresh_token; its permissions decide)."""
        ts = self.registry.token_server
        form = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": refresh,
                                       "service": self.login_server, "scope": " ".join(scopes)})
        conn = http.client.HTTPConnection("127.0.0.1", ts.port, timeout=30)
        try:
            conn.request("POST", "/token", body=form, headers={"Content-Type": "application/x-www-form-urlencoded"})
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        if resp.status != 200:
            raise RuntimeError(f"token server answered {resp.status}")
        return json.loads(data)["access_token"]

    # ---------------------------------------------------------------- /v2 proxy
    def _proxy(self, h, method, path, query, body, entry):
        auth = (h.headers.get("Authorization") or "").strip()
        if auth.lower().startswith("bearer "):
            entry["principal"] = (_jwt_claims(auth[7:].strip()) or {}).get("sub")
        headers = {}
        for k, v in h.headers.items():
            if k.lower() in HOP_BY_HOP:
                continue
            headers[k] = f"{headers[k]}, {v}" if k in headers else v
        headers.update({"Host": self.login_server, "X-Forwarded-Proto": "https"})
        status, out_headers, data = self._registry_call(method, path + ("?" + query if query else ""), headers,
                                                        body if (body or method in ("POST", "PUT", "PATCH")) else None)
        length = out_headers.get("Content-Length")
        if status == 201 and method == "PUT":
            self._record_push(path, out_headers.get("Docker-Content-Digest"))
        kept = {k: v for k, v in out_headers.items() if k.lower() not in HOP_BY_HOP}
        self._send(h, status, data, None, kept,
                   head_length=int(length) if method == "HEAD" and length and length.isdigit() else None)

    def _registry_call(self, method, target, headers, body=None):
        """-> (status, {header: value} (repeated headers joined), body bytes)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.registry.port, timeout=60)
        try:
            conn.request(method, target, body=body, headers=headers)
            resp = conn.getresponse()
            data = b"" if method == "HEAD" else resp.read()
            out = {}
            for k, v in resp.getheaders():
                out[k] = f"{out[k]}, {v}" if k in out else v
            return resp.status, out, data
        finally:
            conn.close()

    def _record_push(self, path, digest):
        m = re.match(r"^/v2/(.+)/manifests/([^/]+)$", urllib.parse.unquote(path))
        if not m or not digest:
            return
        repo, ref = m.groups()
        now = self.azure._now()
        with self._lock:
            rec = self._manifests.setdefault((repo, digest), {"created": now, "updated": now})
            rec["updated"] = now
            if not ref.startswith("sha256:"):
                rec = self._tags.setdefault((repo, ref), {"created": now, "updated": now})
                rec["updated"] = now

    # ---------------------------------------------------------------- /acr/v1
    def _challenge(self, scope, presented):
        return (f'Bearer realm="https://{self.login_server}/oauth2/token",service="{self.login_server}",'
                f'scope="{scope}"' + (',error="invalid_token"' if presented else ""))

    def _authorize(self, h, typ, name, action, entry):
        """Raises the 401 ACR sends unless the request carries a valid access token for typ:name:action."""
        auth = (h.headers.get("Authorization") or "").strip()
        token = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        claims = self._verify_access_token(token) if token else None
        if claims:
            entry["principal"] = claims.get("sub")
            for grant in claims.get("access") or []:
                if (grant.get("type"), grant.get("name")) == (typ, name) and \
                        (action in grant.get("actions", []) or "*" in grant.get("actions", [])):
                    return
        raise AcrError(401, "UNAUTHORIZED", AUTH_REQUIRED, [{"Type": typ, "Name": name, "Action": action}],
                       self._challenge(f"{typ}:{name}:{action}", token is not None))

    def _verify_access_token(self, token):
        """The claims of an unexpired TokenServer token for this registry, or None."""
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

        try:
            head, payload, sig = token.split(".")
            raw = _b64u_decode(sig)
            if len(raw) != 64:
                return None
            self.registry.token_server.key.public_key().verify(
                encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big")),
                (head + "." + payload).encode(), ec.ECDSA(hashes.SHA256()))
            claims = json.loads(_b64u_decode(payload))
        except (ValueError, InvalidSignature):
            return None
        now = time.time()  # the registry's clock: these tokens are checked by docker-registry too
        if claims.get("aud") != self.login_server or not claims.get("exp", 0) > now or claims.get("nbf", 0) > now + 5:
            return None
        return claims

    def _acr_v1(self, h, method, path, query, entry):
        if method not in ("GET", "HEAD"):
            raise AcrError(405, "UNSUPPORTED", f"The operation is unsupported: the stand-in serves GET on /acr/v1 "
                                               f"only, not {method}.")
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}
        p = urllib.parse.unquote(path)
        if p == "/acr/v1/_catalog":
            self._authorize(h, "registry", "catalog", "*", entry)
            return self._catalog(h, q)
        routes = ((r"^/acr/v1/(.+)/_tags/([^/]+)$", self._tag), (r"^/acr/v1/(.+)/_tags$", self._tag_list),
                  (r"^/acr/v1/(.+)/_manifests/([^/]+)$", self._manifest),
                  (r"^/acr/v1/(.+)/_manifests$", self._manifest_list), (r"^/acr/v1/([^_].*)$", self._repository))
        for pattern, fn in routes:
            m = re.match(pattern, p)
            if m:
                self._authorize(h, "repository", m.group(1), "metadata_read", entry)
                return fn(h, q, *m.groups())
        raise AcrError(404, "NOT_FOUND", f"{p} is not an ACR API")

    def _internal_call(self, method, target, scopes, accept=None):
        key = tuple(scopes)
        with self._lock:
            token, expires = self._internal_tokens.get(key, (None, 0))
        if expires < time.time() + 60:
            token = self._access_token(self._internal, scopes)
            with self._lock:
                self._internal_tokens[key] = (token, time.time() + self._access_token_ttl)
        headers = {"Host": self.login_server, "Authorization": "Bearer " + token}
        if accept:
            headers["Accept"] = accept
        return self._registry_call(method, target, headers)

    def _repo_tags(self, repo):
        status, _, data = self._internal_call("GET", f"/v2/{repo}/tags/list",
                                              [f"repository:{repo}:pull"])
        if status == 404:
            raise AcrError(404, "NAME_UNKNOWN", "repository name not known to registry", {"name": repo})
        if status != 200:
            raise RuntimeError(f"registry tags/list answered {status}")
        return sorted(json.loads(data).get("tags") or [])

    def _manifest_bytes(self, repo, ref):
        """(digest, media type, bytes) of a manifest, or None."""
        status, headers, data = self._internal_call("GET", f"/v2/{repo}/manifests/{ref}", [f"repository:{repo}:pull"],
                                                    accept=", ".join(MANIFEST_TYPES))
        if status == 404:
            return None
        if status != 200:
            raise RuntimeError(f"registry manifest GET answered {status}")
        return headers.get("Docker-Content-Digest"), headers.get("Content-Type"), data

    def _times(self, table, key):
        with self._lock:
            rec = table.get(key)
        now = self.azure._now()
        return (rec["created"], rec["updated"]) if rec else (now, now)

    def _paged(self, h, items, key, q, link_base, body_key, body):
        """ACR's paging: items after `last`, at most `n`, Link to the next page."""
        last, n = q.get("last"), q.get("n")
        if last:
            items = [i for i in items if key(i) > last] if q.get("orderby") in (None, "") else \
                items[next((k + 1 for k, i in enumerate(items) if key(i) == last), len(items)):]
        headers = {"Docker-Distribution-Api-Version": "registry/2.0"}
        if n:
            try:
                n = int(n)
            except ValueError:
                raise AcrError(400, "PAGINATION_NUMBER_INVALID", "invalid number of results requested") from None
            if len(items) > n:
                items = items[:n]
                query = urllib.parse.urlencode({"last": key(items[-1]), "n": n, "orderby": q.get("orderby", "")})
                headers["Link"] = f'<{link_base}?{query}>; rel="next"'
        body[body_key] = items
        self._reply(h, 200, body, headers)

    def _catalog(self, h, q):
        repos, last = [], None
        while True:  # docker-registry answers at most 1000 names a page
            status, _, data = self._internal_call(
                "GET", "/v2/_catalog?n=1000" + (f"&last={urllib.parse.quote(last, safe='')}" if last else ""),
                ["registry:catalog:*"])
            if status != 200:
                raise RuntimeError(f"registry _catalog answered {status}")
            page = json.loads(data).get("repositories") or []
            repos += page
            if len(page) < 1000:
                break
            last = page[-1]
        repos.sort()
        self._paged(h, repos, lambda r: r, q, "/acr/v1/_catalog", "repositories", {})

    def _tag_attributes(self, repo, tag):
        found = self._manifest_bytes(repo, tag)
        if found is None:
            return None
        created, updated = self._times(self._tags, (repo, tag))
        return {"name": tag, "digest": found[0], "createdTime": _iso(created), "lastUpdateTime": _iso(updated),
                "signed": False, "changeableAttributes": dict(ALL_ENABLED)}

    def _tag(self, h, q, repo, tag):
        self._repo_tags(repo)
        attrs = self._tag_attributes(repo, tag)
        if attrs is None:
            raise AcrError(404, "TAG_UNKNOWN", "the specified tag does not exist", {"Tag": tag})
        self._reply(h, 200, {"registry": self.login_server, "imageName": repo, "tag": attrs},
                    {"Docker-Distribution-Api-Version": "registry/2.0"})

    def _tag_list(self, h, q, repo):
        tags = [a for a in (self._tag_attributes(repo, t) for t in self._repo_tags(repo)) if a]
        if q.get("digest"):
            tags = [t for t in tags if t["digest"] == q["digest"]]
        if q.get("orderby") in ("timedesc", "timeasc"):
            tags.sort(key=lambda t: t["lastUpdateTime"], reverse=q["orderby"] == "timedesc")
        self._paged(h, tags, lambda t: t["name"], q, f"/acr/v1/{urllib.parse.quote(repo, safe='')}/_tags", "tags",
                    {"registry": self.login_server, "imageName": repo})

    def _manifest_attributes(self, repo, digest, tags_by_digest):
        found = self._manifest_bytes(repo, digest)
        if found is None:
            return None
        digest, media_type, data = found
        try:
            doc = json.loads(data)
        except ValueError:
            doc = {}
        media_type = doc.get("mediaType") or media_type
        created, updated = self._times(self._manifests, (repo, digest))
        attrs = {"digest": digest, "imageSize": len(data), "createdTime": _iso(created),
                 "lastUpdateTime": _iso(updated), "mediaType": media_type,
                 "tags": sorted(tags_by_digest.get(digest, [])), "changeableAttributes": dict(ALL_ENABLED)}
        if isinstance(doc.get("manifests"), list):
            attrs["references"] = [{"digest": m.get("digest"), "architecture": (m.get("platform") or {}).get(
                "architecture"), "os": (m.get("platform") or {}).get("os")} for m in doc["manifests"]]
        elif isinstance(doc.get("config"), dict):
            config = doc["config"]
            attrs["configMediaType"] = config.get("mediaType")
            if config.get("mediaType") in IMAGE_CONFIG_TYPES and config.get("digest"):
                status, _, blob = self._internal_call("GET", f"/v2/{repo}/blobs/{config['digest']}",
                                                      [f"repository:{repo}:pull"])
                try:
                    cfg = json.loads(blob) if status == 200 else {}
                except ValueError:
                    cfg = {}
                attrs["architecture"], attrs["os"] = cfg.get("architecture"), cfg.get("os")
        return attrs

    def _tags_by_digest(self, repo):
        out = {}
        for tag in self._repo_tags(repo):
            found = self._manifest_bytes(repo, tag)
            if found:
                out.setdefault(found[0], []).append(tag)
        return out

    def _manifest(self, h, q, repo, digest):
        by_digest = self._tags_by_digest(repo)
        attrs = self._manifest_attributes(repo, digest, by_digest) if digest.startswith("sha256:") else None
        if attrs is None:
            raise AcrError(404, "MANIFEST_UNKNOWN", "manifest unknown", {"Digest": digest})
        self._reply(h, 200, {"registry": self.login_server, "imageName": repo, "manifest": attrs},
                    {"Docker-Distribution-Api-Version": "registry/2.0"})

    def _known_digests(self, repo, by_digest):
        with self._lock:
            pushed = {d for (r, d) in self._manifests if r == repo}
        return sorted(pushed | set(by_digest))

    def _manifest_list(self, h, q, repo):
        by_digest = self._tags_by_digest(repo)
        digests = self._known_digests(repo, by_digest)
        items = [a for a in (self._manifest_attributes(repo, d, by_digest) for d in digests) if a]
        if q.get("orderby") in ("timedesc", "timeasc"):
            items.sort(key=lambda a: a["lastUpdateTime"], reverse=q["orderby"] == "timedesc")
        self._paged(h, items, lambda a: a["digest"], q, f"/acr/v1/{urllib.parse.quote(repo, safe='')}/_manifests",
                    "manifests", {"registry": self.login_server, "imageName": repo})

    def _repository(self, h, q, repo):
        tags = self._repo_tags(repo)
        by_digest = self._tags_by_digest(repo)
        digests = [d for d in self._known_digests(repo, by_digest) if self._manifest_bytes(repo, d)]
        times = [self._times(self._manifests, (repo, d)) for d in digests] + \
                [self._times(self._tags, (repo, t)) for t in tags]
        now = self.azure._now()
        self._reply(h, 200, {"registry": self.login_server, "imageName": repo,
                             "createdTime": _iso(min((c for c, _ in times), default=now)),
                             "lastUpdateTime": _iso(max((u for _, u in times), default=now)),
                             "manifestCount": len(digests), "tagCount": len(tags),
                             "changeableAttributes": dict(ALL_ENABLED, teleportEnabled=False)},
                    {"Docker-Distribution-Api-Version": "registry/2.0"})
