"""A Kubernetes API server on loopback for the `kyma` and `aks` targets, with a simulated
cluster behind it (controllers, pods, an ingress gateway). Plain Python, no cluster needed.

    server = KubeApiServer(token="t0k3n").start()
    server.write_kubeconfig("/tmp/kubeconfig")        # kubectl --kubeconfig /tmp/kubeconfig ...
    server.on_pod_ready = lambda deployment: backend_url_or_None
    ...
    server.stop()

What it serves (enough for kubectl 1.32 get/describe/apply/apply --server-side/delete/
rollout status, and for a hand-written client):
  * discovery: /version, /api, /api/v1, /apis, /apis/<g>, /apis/<g>/<v> (legacy JSON forms;
    kubectl's aggregated-discovery request carries `application/json` as a fallback and gets
    plain JSON). /openapi/v3 is a stub in which every PATCH declares `fieldValidation`, so that
    kubectl apply leaves validation to the server instead of needing schemas; /openapi/v2 is 404.
    GET/LIST with `Accept: ...as=Table...` (kubectl get without -o) get a meta.k8s.io/v1 Table with
    kubectl's usual columns for deployments, replicasets, pods, services, ingresses, apirules,
    virtualservices, events, namespaces, secrets (Name/Age for the rest).
  * auth: `Authorization: Bearer <token>` (401 Status otherwise); with tls=True and client_cert=True
    a client certificate from the test CA authenticates as its CN; anonymous=True lets requests
    without credentials in. NOTE: kubectl (client-go) sends no credentials to an http:// server,
    so kubectl with a token needs tls=True (or anonymous=True). `forbidden` holds (verb, resource)
    or (verb, resource, namespace) entries ("*" matches any; subresources as "deployments/status")
    that answer 403.
  * bodies: JSON or YAML. Protobuf is not understood (415): kubectl's imperative
    `create deployment/namespace ...` sends protobuf; `kubectl apply/create -f` send JSON.
  * groups: v1 (namespaces, pods (+log), services, events, secrets, configmaps,
    serviceaccounts, endpoints), apps/v1 (deployments, replicasets), networking.k8s.io/v1
    (ingresses, ingressclasses), gateway.kyma-project.io v2 + v1beta1 (apirules; one
    storage, converted between versions; `apirule_versions=` chooses what is served),
    networking.istio.io/v1 (virtualservices, destinationrules, gateways).
  * verbs: create (POST, 409 AlreadyExists, generateName), get, list (labelSelector with
    =, ==, !=, in, notin, exists, !exists; fieldSelector on any dotted path such as
    metadata.name or involvedObject.name; limit/continue), update (PUT; 409 Conflict on a
    stale resourceVersion), patch (apply-patch+yaml = server-side apply with fieldManager,
    force and conflicts; merge-patch+json; strategic-merge-patch+json (approximate);
    json-patch+json; anything else 415), delete (propagationPolicy Background / Foreground /
    Orphan from the DeleteOptions body or the query; Foreground leaves the object with
    deletionTimestamp + finalizer foregroundDeletion until its dependents are gone),
    deletecollection, watch (?watch=1, chunked newline-delimited JSON events ADDED /
    MODIFIED / DELETED / BOOKMARK / ERROR 410 Expired), the status subresource, dryRun=All.
    A watch runs until its timeoutSeconds, as kube-apiserver's do; with `end_watch_after_changes`
    it ends once it has sent a change (ADDED / MODIFIED / DELETED after the initial objects), as
    an API server may end any watch: a client that reads a round only when it ends then sees each
    change at once instead of at the round's end.
  * errors shaped like the real server's Status objects (401, 403, 404, 409, 410, 415, 422).
  * metadata: uid, resourceVersion (one global counter), generation (bumped when anything
    but metadata/status changes), creationTimestamp, managedFields (approximate FieldsV1).

The simulated cluster (a controller thread, `tick` seconds apart):
  * Deployment -> ReplicaSet `<name>-<pod-template-hash>` (revision annotation, ownerReference)
    -> Pods; pods become Ready after `ready_delay` seconds, the new ReplicaSet's pods are
    reported to `on_pod_ready(deployment) -> backend URL | None` first; old ReplicaSets are
    scaled to 0 once the new one is available, and kept (revisionHistoryLimit).
    Deployment status (observedGeneration, replicas, updated/ready/availableReplicas,
    conditions Available/Progressing) follows, ProgressDeadlineExceeded after
    min(progress_deadline, spec.progressDeadlineSeconds) seconds without success.
  * `fail_image(image, reason, message=None, log=None)`: ImagePullBackOff / ErrImagePull /
    CrashLoopBackOff / Unschedulable / any other waiting reason; pods stay unready with the
    reason in containerStatuses (or the PodScheduled condition) and v1 Events are recorded.
  * APIRule status Ready (v2 `status.state`, v1beta1 `status.APIRuleStatus.code` OK) after
    `apirule_delay`; `fail_apirule(name, description)` makes it Error.
  * Ingress and LoadBalancer Service status get loadBalancer.ingress[0].ip = 127.0.0.1.
  * Garbage collection by ownerReferences; namespaces delete their contents.

The gateway (`gateway_url`, a second port) routes by Host (port ignored): Istio
VirtualServices (weighted routes, uri prefix/exact and header matches, directResponse; checked on
write as istiod's webhook does), Ready APIRules (v2 hosts / v1beta1
host; a short label gets `.<cluster_domain>`), Ingresses (host + Exact/Prefix paths; ingress-nginx
canary annotations canary-weight / canary-weight-total / canary-by-header) -> Service ->
selector -> ready Pods -> the backend URL their ReplicaSet got from on_pod_ready. 404 when
nothing routes, 503 when no ready backend, 502 when the backend fails, 413 above
`gateway_max_body`. `gateway_log` records every request and which backend served it.

`EchoBackend(name)` is a model-server stand-in to return from on_pod_ready: it answers every
request with JSON {"backend": name, "method", "path", "headers", "body"}. `on_backend_gone(url)` is
called when the ReplicaSet behind a backend is scaled to 0 or deleted; an exception from
on_pod_ready makes that ReplicaSet's pods CrashLoopBackOff with the exception as the message.
Test helpers: get/list/put (direct store access), events(), wait_for(), paused() (no controller
round runs inside: tests of the API itself do not race the controllers), reconcile(rounds) (controller
rounds run now, in the caller), backend_counts(),
inject_error(method, path_regex, code, times, retry_after), compact() (watch history -> 410),
reseed(seed), requests (API request log), request_hosts (their Host headers), sni_names (the TLS
server names clients sent; tls_names= sets the names the server certificate holds), controller_errors
(must stay empty).

Standalone: python tests/servers/kubernetes.py --port N --kubeconfig PATH [--token T]
[--gateway-port N] [--tls]; prints the URLs and serves until SIGINT/SIGTERM.
"""
import argparse
import base64
import collections
import contextlib
import copy
import datetime
import hashlib
import http.client
import json
import random
import re
import secrets
import signal
import socket
import ssl
import sys
import threading
import time
import traceback
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSONPATCH = "application/json-patch+json"
KYMA = "gateway.kyma-project.io"
ISTIO = "networking.istio.io"
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
MSG_SUBDOMAIN = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
                 "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation "
                 "is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')")
MSG_LABEL = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
             "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
             "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')")
MSG_1035 = ("a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
            "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
            "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "content-length", "host"}
_HASH_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_iso(t=None):
    return datetime.datetime.fromtimestamp(time.time() if t is None else t, datetime.timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def _rand_suffix(n=5):
    return "".join(secrets.choice(_HASH_ALPHABET) for _ in range(n))


def pod_template_hash(template):
    digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
    return "".join(_HASH_ALPHABET[b % len(_HASH_ALPHABET)] for b in digest[:10])


class ResourceType:
    def __init__(self, group, version, resource, kind, namespaced=True, short=(), subresources=("status",),
                 categories=(), builtin=True, generation=True, list_kind=None):
        self.group, self.version, self.resource, self.kind = group, version, resource, kind
        self.namespaced, self.short, self.subresources = namespaced, list(short), subresources
        self.categories, self.builtin, self.generation = list(categories), builtin, generation
        self.list_kind = list_kind or kind + "List"

    @property
    def api_version(self):
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def store(self):
        return (self.group, self.resource)

    @property
    def qualified(self):  # what the real server puts in messages: deployments.apps, pods
        return f"{self.resource}.{self.group}" if self.group else self.resource


def default_types(apirule_versions=("v2", "v1beta1")):
    core = [
        ResourceType("", "v1", "namespaces", "Namespace", namespaced=False, short=["ns"],
                     subresources=("status", "finalize"), generation=False),
        ResourceType("", "v1", "pods", "Pod", short=["po"], subresources=("status", "log"), categories=["all"],
                     generation=False),
        ResourceType("", "v1", "services", "Service", short=["svc"], categories=["all"], generation=False),
        ResourceType("", "v1", "events", "Event", short=["ev"], subresources=(), generation=False),
        ResourceType("", "v1", "secrets", "Secret", subresources=(), generation=False),
        ResourceType("", "v1", "configmaps", "ConfigMap", short=["cm"], subresources=(), generation=False),
        ResourceType("", "v1", "serviceaccounts", "ServiceAccount", short=["sa"], subresources=(), generation=False),
        ResourceType("", "v1", "endpoints", "Endpoints", short=["ep"], subresources=(), generation=False,
                     list_kind="EndpointsList"),
    ]
    apps = [
        ResourceType("apps", "v1", "deployments", "Deployment", short=["deploy"], categories=["all"]),
        ResourceType("apps", "v1", "replicasets", "ReplicaSet", short=["rs"], categories=["all"]),
    ]
    net = [
        ResourceType("networking.k8s.io", "v1", "ingresses", "Ingress", short=["ing"]),
        ResourceType("networking.k8s.io", "v1", "ingressclasses", "IngressClass", namespaced=False, subresources=()),
    ]
    kyma = [ResourceType(KYMA, v, "apirules", "APIRule", builtin=False) for v in apirule_versions]
    istio = [
        ResourceType(ISTIO, "v1", "virtualservices", "VirtualService", short=["vs"], builtin=False),
        ResourceType(ISTIO, "v1", "destinationrules", "DestinationRule", short=["dr"], builtin=False),
        ResourceType(ISTIO, "v1", "gateways", "Gateway", short=["gw"], builtin=False),
    ]
    return core + apps + net + kyma + istio


def virtualservice_problems(spec):
    """What Istio's validating webhook (istiod, pkg/config/validation) refuses in a VirtualService's spec:
    no hosts, an HTTP route with neither route, redirect nor directResponse (or more than one), a
    destination without host, weights outside 0..100 or not adding up to 100 when several are given
    (Istio < 1.6 demanded 100; later ones normalize, we keep the strict rule), header match keys that
    are not lower case, a directResponse status outside 200..599."""
    causes = []
    if not spec.get("hosts"):
        causes.append(("spec.hosts", "Required value: virtual service must have at least one host"))
    for i, r in enumerate(spec.get("http") or []):
        at = f"spec.http[{i}]"
        kinds = [k for k in ("route", "redirect", "directResponse") if r.get(k)]
        if len(kinds) != 1:
            causes.append((at, "Invalid value: HTTP route must have exactly one of route, redirect or directResponse"))
        for m in r.get("match") or []:
            for name in (m.get("headers") or {}):
                if name != name.lower():
                    causes.append((f"{at}.match.headers", f'Invalid value: "{name}": header match key must be lowercase'))
        dests = r.get("route") or []
        weights = [d.get("weight", 0) for d in dests]
        for j, d in enumerate(dests):
            if not (d.get("destination") or {}).get("host"):
                causes.append((f"{at}.route[{j}].destination.host", "Required value"))
            if not isinstance(d.get("weight", 0), int) or not 0 <= d.get("weight", 0) <= 100:
                causes.append((f"{at}.route[{j}].weight", f"Invalid value: {d.get('weight')}: must be 0..100"))
        if len(dests) > 1 and sum(w for w in weights if isinstance(w, int)) != 100:
            causes.append((f"{at}.route", f"Invalid value: {weights}: total destination weight != 100"))
        direct = r.get("directResponse")
        if direct and not 200 <= int(direct.get("status", 0)) <= 599:
            causes.append((f"{at}.directResponse.status", f"Invalid value: {direct.get('status')}: must be 200..599"))
    return causes


class ApiError(Exception):
    """Raised inside request handling; becomes a Status response."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details, self.headers = code, reason, message, details, headers

    def status(self):
        body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": self.message,
                "reason": self.reason}
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(rt, name, **extra):
    d = {}
    if name:
        d["name"] = name
    if rt.group:
        d["group"] = rt.group
    d["kind"] = rt.resource
    d.update(extra)
    return d


def not_found(rt, name):
    return ApiError(404, "NotFound", f'{rt.qualified} "{name}" not found', _details(rt, name))


def namespace_not_found(ns):
    return ApiError(404, "NotFound", f'namespaces "{ns}" not found', {"name": ns, "kind": "namespaces"})


def already_exists(rt, name):
    return ApiError(409, "AlreadyExists", f'{rt.qualified} "{name}" already exists', _details(rt, name))


def conflict(rt, name):
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again", _details(rt, name))


def bad_request(message):
    return ApiError(400, "BadRequest", message)


def invalid(rt, name, causes):
    """causes: list of (field, message-after-field)."""
    kind = f"{rt.kind}.{rt.group}" if rt.group else rt.kind
    text = "; ".join(f"{f}: {m}" for f, m in causes)
    if len(causes) > 1:
        text = "[" + ", ".join(f"{f}: {m}" for f, m in causes) + "]"
    d = {"name": name} if name else {}
    if rt.group:
        d["group"] = rt.group
    d["kind"] = rt.kind
    d["causes"] = [{"reason": "FieldValueRequired" if m.startswith("Required") else "FieldValueInvalid",
                    "message": m, "field": f} for f, m in causes]
    return ApiError(422, "Invalid", f'{kind} "{name}" is invalid: {text}', d)


# ------------------------------------------------------------------------------ selectors
_REQ = re.compile(r"\s*(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(==|=|!=)\s*([A-Za-z0-9_.-]*)|\s+(in|notin)\s*\(([^)]*)\))?\s*$")


def _split_selector(text):
    parts, depth, cur = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return parts


def parse_label_selector(text):
    """-> list of predicates over a labels dict; raises ApiError 400 on syntax errors."""
    preds = []
    for part in _split_selector(text or ""):
        m = _REQ.match(part)
        if not m:
            raise bad_request(f'unable to parse requirement: found \'{part.strip()}\', invalid label selector "{text}"')
        neg, key, op, value, setop, values = m.groups()
        if neg:
            if op or setop:
                raise bad_request(f'invalid label selector "{text}"')
            preds.append(lambda labels, k=key: k not in labels)
        elif op in ("=", "=="):
            preds.append(lambda labels, k=key, v=value: labels.get(k) == v)
        elif op == "!=":
            preds.append(lambda labels, k=key, v=value: labels.get(k) != v)
        elif setop:
            vals = {v.strip() for v in values.split(",") if v.strip()}
            if setop == "in":
                preds.append(lambda labels, k=key, vs=vals: labels.get(k) in vs)
            else:
                preds.append(lambda labels, k=key, vs=vals: labels.get(k) not in vs)
        else:
            preds.append(lambda labels, k=key: k in labels)
    return preds


def _lookup(obj, path):
    cur = obj
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return ""
        cur = cur[part]
    return "" if cur is None else str(cur)


def parse_field_selector(text):
    preds = []
    for part in [p for p in (text or "").split(",") if p.strip()]:
        m = re.match(r"^\s*([A-Za-z0-9_.]+)\s*(==|=|!=)\s*(.*?)\s*$", part)
        if not m:
            raise bad_request(f'invalid field selector "{text}"')
        path, op, value = m.groups()
        if op == "!=":
            preds.append(lambda o, p=path, v=value: _lookup(o, p) != v)
        else:
            preds.append(lambda o, p=path, v=value: _lookup(o, p) == v)
    return preds


def selector_matches(selector, labels):
    """A LabelSelector object (matchLabels/matchExpressions) against labels."""
    if not selector:
        return False
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != v:
            return False
    for e in selector.get("matchExpressions") or []:
        k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
        if op == "In" and labels.get(k) not in vals:
            return False
        if op == "NotIn" and labels.get(k) in vals:
            return False
        if op == "Exists" and k not in labels:
            return False
        if op == "DoesNotExist" and k in labels:
            return False
    return True


# ------------------------------------------------------------------------------ patches
def merge_patch(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


def strategic_merge_patch(target, patch):
    """ingress-free approximation of Kubernetes' strategic merge patch: maps merge, lists of maps
    with a known merge key (name, containerPort, port, mountPath, uid, type) merge by that key,
    `$patch: delete|replace` and `$deleteFromPrimitiveList/` are honoured, other directives ignored."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if k.startswith("$deleteFromPrimitiveList/"):
            field = k.split("/", 1)[1]
            out[field] = [x for x in out.get(field) or [] if x not in v]
            continue
        if k.startswith("$"):
            continue
        if v is None:
            out.pop(k, None)
        elif isinstance(v, dict):
            out[k] = strategic_merge_patch(out.get(k), v)
        elif isinstance(v, list) and v and all(isinstance(i, dict) for i in v) and isinstance(out.get(k), list):
            key = next((mk for mk in ("name", "containerPort", "port", "mountPath", "uid", "type", "ip")
                        if all(mk in i for i in v if i.get("$patch") != "delete" or mk in i)), None)
            if key is None:
                out[k] = copy.deepcopy(v)
                continue
            merged = copy.deepcopy(out[k])
            for item in v:
                idx = next((n for n, e in enumerate(merged) if isinstance(e, dict) and e.get(key) == item.get(key)),
                           None)
                if item.get("$patch") == "delete":
                    if idx is not None:
                        merged.pop(idx)
                elif idx is not None:
                    merged[idx] = strategic_merge_patch(merged[idx], item)
                else:
                    merged.append({a: b for a, b in item.items() if a != "$patch"})
            out[k] = merged
        else:
            out[k] = copy.deepcopy(v)
    return out


def _pointer(path):
    if path == "":
        return []
    return [p.replace("~1", "/").replace("~0", "~") for p in path.lstrip("/").split("/")]


def json_patch(target, ops):
    doc = copy.deepcopy(target)

    def parent(parts):
        cur = doc
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def get(parts):
        cur = doc
        for p in parts:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    for op in ops:
        parts = _pointer(op.get("path", ""))
        try:
            kind = op["op"]
            if kind in ("add", "replace"):
                par, last = parent(parts), parts[-1]
                if isinstance(par, list):
                    if last == "-":
                        par.append(copy.deepcopy(op["value"]))
                    elif kind == "add":
                        par.insert(int(last), copy.deepcopy(op["value"]))
                    else:
                        par[int(last)] = copy.deepcopy(op["value"])
                else:
                    if kind == "replace" and last not in par:
                        raise KeyError(last)
                    par[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                par, last = parent(parts), parts[-1]
                par.pop(int(last) if isinstance(par, list) else last)
            elif kind == "test":
                if get(parts) != op.get("value"):
                    raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                                   f"testing value {op.get('path')} failed")
            elif kind in ("move", "copy"):
                value = copy.deepcopy(get(_pointer(op["from"])))
                if kind == "move":
                    fp = _pointer(op["from"])
                    fpar = parent(fp)
                    fpar.pop(int(fp[-1]) if isinstance(fpar, list) else fp[-1])
                par, last = parent(parts), parts[-1]
                if isinstance(par, list):
                    par.insert(len(par) if last == "-" else int(last), value)
                else:
                    par[last] = value
            else:
                raise bad_request(f"Unexpected kind: {kind}")
        except (KeyError, IndexError, ValueError, TypeError) as e:
            raise ApiError(422, "Invalid", f"the server rejected our request due to an error in our request: "
                           f"{op.get('op')} operation does not apply: doc is missing path: {op.get('path')}: {e}")
    return doc


# ------------------------------------------------------------------------------ apply helpers
_OWNED_METADATA = ("labels", "annotations", "finalizers", "ownerReferences")


def leaf_paths(obj, prefix=()):
    """Field paths an object sets (lists are leaves); metadata only labels/annotations/...; no status."""
    out = set()
    if not isinstance(obj, dict):
        return out
    for k, v in obj.items():
        if not prefix and k in ("apiVersion", "kind", "status"):
            continue
        if prefix == ("metadata",) and k not in _OWNED_METADATA:
            continue
        if isinstance(v, dict) and v:
            out |= leaf_paths(v, prefix + (k,))
        elif v is not None:
            out.add(prefix + (k,))
    return out


def get_path(obj, path):
    cur = obj
    for p in path:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def del_path(obj, path):
    chain = [obj]
    for p in path[:-1]:
        nxt = chain[-1].get(p) if isinstance(chain[-1], dict) else None
        if not isinstance(nxt, dict):
            return
        chain.append(nxt)
    chain[-1].pop(path[-1], None)
    for i in range(len(path) - 1, 0, -1):  # drop maps left empty
        if chain[i] == {}:
            chain[i - 1].pop(path[i - 1], None)


def _covers(live, config):
    """True when the live value already holds everything `config` says (server defaults aside)."""
    if isinstance(config, dict):
        return isinstance(live, dict) and all(_covers(live.get(k), v) for k, v in config.items())
    if isinstance(config, list):
        return isinstance(live, list) and len(live) == len(config) and all(
            _covers(a, b) for a, b in zip(live, config))
    return live == config


def _same(a, b):
    """Equal apart from resourceVersion and managedFields."""
    strip = lambda o: {**o, "metadata": {k: v for k, v in (o.get("metadata") or {}).items()
                                         if k not in ("resourceVersion", "managedFields")}}
    return strip(a) == strip(b)


def fields_v1(paths):
    root = {}
    for path in sorted(paths):
        cur = root
        for p in path:
            cur = cur.setdefault(f"f:{p}", {})
    return root


def apply_merge(live, config):
    if not isinstance(config, dict) or not isinstance(live, dict):
        return copy.deepcopy(config)
    out = copy.deepcopy(live)
    for k, v in config.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = apply_merge(out.get(k), v)
    return out


# ------------------------------------------------------------------------------ APIRule conversion
_NOAUTH_HANDLERS = ("noop", "allow", "no_auth")


def _path_v1_to_v2(path):
    return "/*" if path in ("/.*", "/.+", "/*") else path


def apirule_convert(obj, version):
    """v1beta1 <-> v2 (spec.host <-> spec.hosts[0], accessStrategies <-> noAuth/jwt, status)."""
    src = obj.get("apiVersion", "").split("/")[-1]
    out = copy.deepcopy(obj)
    out["apiVersion"] = f"{KYMA}/{version}"
    if src == version:
        return out
    spec, status = out.get("spec") or {}, out.get("status")
    if version == "v2":
        if "host" in spec:
            spec["hosts"] = [spec.pop("host")]
        rules = []
        for r in spec.get("rules") or []:
            nr = {k: v for k, v in r.items() if k not in ("accessStrategies", "mutators")}
            nr["path"] = _path_v1_to_v2(r.get("path", "/*"))
            handlers = [a.get("handler") for a in r.get("accessStrategies") or []]
            if any(h in _NOAUTH_HANDLERS for h in handlers):
                nr["noAuth"] = True
            elif "jwt" in handlers:
                cfg = next(a.get("config") or {} for a in r["accessStrategies"] if a.get("handler") == "jwt")
                nr["jwt"] = {"authentications": [{"issuer": i, "jwksUri": u} for i, u in
                                                 zip(cfg.get("trusted_issuers") or [], cfg.get("jwks_urls") or [])]}
            rules.append(nr)
        if "rules" in spec:
            spec["rules"] = rules
        if status is not None:
            code = (status.get("APIRuleStatus") or {}).get("code")
            out["status"] = {k: v for k, v in {
                "state": {"OK": "Ready", "ERROR": "Error", "WARNING": "Warning", "SKIPPED": "Warning"}.get(code),
                "description": (status.get("APIRuleStatus") or {}).get("desc"),
                "lastProcessedTime": status.get("lastProcessedTime")}.items() if v is not None}
    else:
        hosts = spec.pop("hosts", None)
        if hosts:
            spec["host"] = hosts[0]
        rules = []
        for r in spec.get("rules") or []:
            nr = {k: v for k, v in r.items() if k not in ("noAuth", "jwt", "extAuth")}
            nr["path"] = "/.*" if r.get("path") in ("/*", "/{**}") else r.get("path")
            if r.get("noAuth"):
                nr["accessStrategies"] = [{"handler": "no_auth"}]
            elif r.get("jwt"):
                auths = r["jwt"].get("authentications") or []
                nr["accessStrategies"] = [{"handler": "jwt", "config": {
                    "trusted_issuers": [a.get("issuer") for a in auths], "jwks_urls": [a.get("jwksUri") for a in auths]}}]
            rules.append(nr)
        if "rules" in spec:
            spec["rules"] = rules
        if status is not None:
            code = {"Ready": "OK", "Error": "ERROR", "Warning": "WARNING"}.get(status.get("state"))
            out["status"] = {"lastProcessedTime": status.get("lastProcessedTime")} if status.get(
                "lastProcessedTime") else {}
            if code:
                out["status"]["APIRuleStatus"] = {"code": code, **({"desc": status["description"]} if status.get(
                    "description") else {})}
    return out


def apirule_ready(obj):
    st = obj.get("status") or {}
    return st.get("state") == "Ready" or (st.get("APIRuleStatus") or {}).get("code") == "OK"


# ------------------------------------------------------------------------------ HTTP plumbing
class _QuietServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True

    def __init__(self, addr, handler, owner, ssl_context=None):
        self.owner, self.ssl_context = owner, ssl_context
        self.connections = set()
        self.conn_lock = threading.Lock()
        super().__init__(addr, handler)

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context is not None:
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, OSError)):
            return
        traceback.print_exc()

    def close_connections(self):
        with self.conn_lock:
            conns = list(self.connections)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-apiserver-sim"

    def setup(self):
        try:   # headers and body go out in separate writes: without this, Nagle + delayed ACK cost 40 ms
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(10)
            self.request.do_handshake()
            self.request.settimeout(None)
        with self.server.conn_lock:
            self.server.connections.add(self.request)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.conn_lock:
                self.server.connections.discard(self.request)

    def log_message(self, fmt, *args):
        pass

    def read_body(self):
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def send_bytes(self, code, body, content_type="application/json", headers=None):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, code, obj, headers=None):
        self.send_bytes(code, json.dumps(obj).encode(), "application/json", headers)


class _ApiHandler(_Handler):
    def do_GET(self):
        self.server.owner._dispatch(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET


class _GatewayHandler(_Handler):
    server_version = "istio-envoy-sim"

    def do_GET(self):
        self.server.owner._gateway(self)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET


# ------------------------------------------------------------------------------ the server
class KubeApiServer:
    def __init__(self, token="test-token", *, host="127.0.0.1", port=0, gateway=True, gateway_port=0,
                 tls=False, client_cert=False, user="test-user", forbidden=(), apirule_versions=("v2", "v1beta1"),
                 cluster_domain="kyma.example.com", namespaces=("default", "kyma-system", "kube-system"),
                 ready_delay=0.2, apirule_delay=0.1, lb_delay=0.05, deletion_delay=0.1, progress_deadline=3.0,
                 tick=0.02, history=1000, bookmark_interval=1.0, seed=0, gateway_max_body=None,
                 gateway_timeout=30.0, version=("1", "32"), anonymous=False,
                 tls_names=("127.0.0.1", "localhost", "::1"), end_watch_after_changes=False):
        self.token, self.user, self.host, self.anonymous = token, user, host, anonymous
        self.forbidden = set(forbidden)
        self.apirule_versions = tuple(apirule_versions)
        self.cluster_domain = cluster_domain
        self.ready_delay, self.apirule_delay, self.lb_delay = ready_delay, apirule_delay, lb_delay
        self.deletion_delay, self.progress_deadline, self.tick = deletion_delay, progress_deadline, tick
        self.history_size, self.bookmark_interval = history, bookmark_interval
        self.end_watch_after_changes = end_watch_after_changes
        self.gateway_max_body, self.gateway_timeout = gateway_max_body, gateway_timeout
        self.version = version
        self.on_pod_ready = None      # callable(deployment dict) -> backend URL or None
        self.on_backend_gone = None   # callable(backend URL), when its ReplicaSet is scaled to 0 / deleted
        self.rng = random.Random(seed)
        self.requests = []            # (method, path, query, content-type, user-agent) of every API request
        self.request_hosts = []       # the Host header of every API request
        self.sni_names = []           # the server name (SNI) of every TLS handshake (None: the client sent none)
        self.gateway_log = []         # dicts: host, method, path, route, service, backend, status
        self.controller_errors = []   # tracebacks from the controller thread (tests assert it stays empty)
        self._types = default_types(self.apirule_versions)
        self._by_gvr = {(t.group, t.version, t.resource): t for t in self._types}
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._objects = collections.defaultdict(dict)   # (group, resource) -> {(ns, name): obj}
        self._owners = {}       # (group, resource, ns, name) -> {manager: {"op","apiVersion","time","paths"}}
        self._rv = 0
        self._history = collections.deque()   # (rv, type, store, obj, prev)
        self._compacted_rv = 0
        self._stopping = threading.Event()
        self._failures = {}     # image -> (reason, message, log)
        self._apirule_failures = {}   # (ns or None, name) -> description
        self._backends = {}     # replicaset uid -> backend url or None
        self._hook_started = set()
        self._progress = {}     # deployment uid -> (generation, started at, last progress time)
        self._faults = []       # dicts: method, path (regex), code, remaining, retry_after
        self._pod_logs = {}     # (ns, pod) -> text
        self._ip_counter = 10
        self._marked = {}       # store key + uid -> when deletion was first seen
        self._changed = {}      # store key (+ uid/generation) -> when a controller first saw it
        self._born = {}         # pod uid -> creation time (monotonic)
        self._failed_pods = {}  # pod uid -> failure reason applied
        self._gone = []         # backend URLs whose ReplicaSet went away (on_backend_gone)
        self._threads = []
        self._round = threading.RLock()   # held for each controller round, and by paused()
        self._api = self._gw = None
        self._tls, self._client_cert, self._tls_names = tls, client_cert, tuple(tls_names)
        self._ca = None
        self._port, self._gw_port, self._want_gateway = port, gateway_port, gateway
        for ns in namespaces:
            self._seed_object("", "v1", "namespaces", {"metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]},
                                                         "status": {"phase": "Active"}})
        self._seed_object("networking.k8s.io", "v1", "ingressclasses", {"metadata": {"name": "nginx", "annotations": {
            "ingressclass.kubernetes.io/is-default-class": "true"}}, "spec": {"controller": "k8s.io/ingress-nginx"}})
        self._seed_object(ISTIO, "v1", "gateways", {"metadata": {"name": "kyma-gateway", "namespace": "kyma-system"},
                                                    "spec": {"selector": {"istio": "ingressgateway"}, "servers": [{
                                                        "hosts": [f"*.{cluster_domain}"],
                                                        "port": {"name": "https", "number": 443,
                                                                 "protocol": "HTTPS"}}]}})

    # ---------------------------------------------------------------- lifecycle
    def start(self):
        ctx = None
        if self._tls:
            import trustme
            self._ca = trustme.CA()
            cert = self._ca.issue_cert(*self._tls_names)
            ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            cert.configure_cert(ctx)
            ctx.sni_callback = lambda _sock, name, _ctx: self.sni_names.append(name)
            if self._client_cert:
                ctx.verify_mode = ssl.CERT_OPTIONAL
                self._ca.configure_trust(ctx)
        self._api = _QuietServer((self.host, self._port), _ApiHandler, self, ctx)
        self._threads.append(threading.Thread(target=self._api.serve_forever, kwargs={"poll_interval": 0.05},
                                              name="kube-api", daemon=True))
        if self._want_gateway:
            self._gw = _QuietServer((self.host, self._gw_port), _GatewayHandler, self)
            self._threads.append(threading.Thread(target=self._gw.serve_forever, kwargs={"poll_interval": 0.05},
                                                  name="kube-gateway", daemon=True))
        self._threads.append(threading.Thread(target=self._controller_loop, name="kube-controllers", daemon=True))
        for t in self._threads:
            t.start()
        return self

    def stop(self):
        if self._stopping.is_set():
            return
        self._stopping.set()
        with self._cond:
            self._cond.notify_all()
        for srv in (self._api, self._gw):
            if srv is not None:
                srv.shutdown()
                srv.close_connections()
                srv.server_close()   # joins the request threads
        for t in self._threads:
            t.join(10)
        self._threads = []

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def port(self):
        return self._api.server_address[1]

    @property
    def url(self):
        return f"{'https' if self._tls else 'http'}://{self.host}:{self.port}"

    @property
    def gateway_port(self):
        return self._gw.server_address[1] if self._gw else None

    @property
    def gateway_url(self):
        return f"http://{self.host}:{self.gateway_port}" if self._gw else None

    @property
    def ca_pem(self):
        """The test CA (PEM bytes) when tls=True, else None."""
        return self._ca.cert_pem.bytes() if self._ca else None

    def write_ca(self, path):
        with open(path, "wb") as f:
            f.write(self.ca_pem)
        return str(path)

    def write_kubeconfig(self, path, token=None, namespace="default", context="test", client_cert=False,
                         cluster="test-cluster", user=None, tls_server_name=None, proxy_url=None):
        """A kubeconfig for this server: bearer token user (or a client certificate signed by the
        test CA when client_cert=True, tls=True and client_cert enabled on the server); the
        cluster's tls-server-name and proxy-url when given."""
        cluster_entry = {"server": self.url}
        if tls_server_name:
            cluster_entry["tls-server-name"] = tls_server_name
        if proxy_url:
            cluster_entry["proxy-url"] = proxy_url
        if self._ca:
            cluster_entry["certificate-authority-data"] = base64.b64encode(self.ca_pem).decode()
        user_entry = {}
        if client_cert:
            if not (self._ca and self._client_cert):
                raise ValueError("client_cert needs KubeApiServer(tls=True, client_cert=True)")
            cert = self._ca.issue_cert(user or self.user, common_name=user or self.user)
            user_entry["client-certificate-data"] = base64.b64encode(cert.cert_chain_pems[0].bytes()).decode()
            user_entry["client-key-data"] = base64.b64encode(cert.private_key_pem.bytes()).decode()
        else:
            user_entry["token"] = self.token if token is None else token
        cfg = {"apiVersion": "v1", "kind": "Config", "preferences": {},
               "clusters": [{"name": cluster, "cluster": cluster_entry}],
               "users": [{"name": user or self.user, "user": user_entry}],
               "contexts": [{"name": context, "context": {"cluster": cluster, "user": user or self.user,
                                                          "namespace": namespace}}],
               "current-context": context}
        with open(path, "w") as f:
            yaml.safe_dump(cfg, f, sort_keys=False)
        return str(path)

    # ---------------------------------------------------------------- test controls
    def fail_image(self, image, reason="ImagePullBackOff", message=None, log=None):
        """Pods running `image` never become ready: reason ImagePullBackOff | ErrImagePull |
        CrashLoopBackOff | Unschedulable | any other container waiting reason."""
        with self._lock:
            self._failures[image] = (reason, message, log)

    def clear_failures(self):
        with self._lock:
            self._failures.clear()
            self._apirule_failures.clear()

    def fail_apirule(self, name, description="Validation error: the host is already occupied", namespace=None):
        with self._lock:
            self._apirule_failures[(namespace, name)] = description

    def inject_error(self, method, path_regex, code=500, times=1, retry_after=None, reason=None):
        """The next `times` API requests whose METHOD matches and whose path matches the regex
        (re.search) answer `code` with a Status body (InternalError, TooManyRequests, ...)."""
        with self._lock:
            self._faults.append({"method": method.upper(), "path": re.compile(path_regex), "code": code,
                                 "remaining": times, "retry_after": retry_after, "reason": reason})

    def set_pod_log(self, namespace, pod, text):
        with self._lock:
            self._pod_logs[(namespace, pod)] = text

    def reseed(self, seed):
        self.rng = random.Random(seed)

    def compact(self):
        """Forget the watch history: watching from any resourceVersion seen so far gets 410."""
        with self._lock:
            self._history.clear()
            self._compacted_rv = self._rv

    @property
    def resource_version(self):
        return self._rv

    def get(self, group, version, resource, name, namespace=None):
        """The stored object (converted to `version`), or None."""
        rt = self._type(group, version, resource)
        with self._lock:
            obj = self._objects[rt.store].get((namespace if rt.namespaced else None, name))
            return self._present(rt, obj) if obj else None

    def list(self, group, version, resource, namespace=None):
        rt = self._type(group, version, resource)
        with self._lock:
            return [self._present(rt, o) for (ns, _), o in sorted(self._objects[rt.store].items(),
                                                                  key=lambda kv: (kv[0][0] or "", kv[0][1]))
                    if namespace is None or ns == namespace]

    def put(self, obj):
        """Stores an object as is (create or replace, no validation, no status reset)."""
        group, _, version = obj["apiVersion"].rpartition("/")
        rt = next(t for t in self._types if t.group == group and t.version == version and t.kind == obj["kind"])
        with self._lock:
            ns = obj["metadata"].get("namespace") if rt.namespaced else None
            old = self._objects[rt.store].get((ns, obj["metadata"]["name"]))
            new = self._stamp(rt, copy.deepcopy(obj), old)
            self._commit(rt, new, old)
            return copy.deepcopy(new)

    def events(self, namespace=None, involved_name=None):
        return [e for e in self.list("", "v1", "events", namespace)
                if involved_name is None or e["involvedObject"].get("name") == involved_name]

    def backend_counts(self):
        """{backend URL: requests served} from gateway_log."""
        return dict(collections.Counter(e["backend"] for e in self.gateway_log if e.get("backend")))

    @contextlib.contextmanager
    def paused(self):
        """No controller round runs inside (one under way is finished first): the store changes only
        by API requests, so a test of the API does not race the simulated cluster."""
        with self._round:
            yield self

    def reconcile(self, rounds=1):
        """Runs controller rounds now, in the caller (also inside paused()): after it, whatever the
        controllers do to the present state (with the delays that have passed) is done."""
        for _ in range(rounds):
            with self._round:
                self._reconcile()

    def wait_for(self, predicate, timeout=10.0, interval=0.02):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(interval)
        raise TimeoutError("condition not met within %.1fs" % timeout)

    # ---------------------------------------------------------------- store internals
    def _type(self, group, version, resource):
        rt = self._by_gvr.get((group, version, resource))
        if rt is None:
            raise KeyError((group, version, resource))
        return rt

    def _type_for_store(self, store):
        return next(t for t in self._types if t.store == store)

    def _seed_object(self, group, version, resource, obj):
        rt = self._by_gvr.get((group, version, resource))
        if rt is None:
            return
        obj = copy.deepcopy(obj)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        with self._lock:
            self._commit(rt, self._stamp(rt, obj, None), None)

    def _present(self, rt, obj):
        """A copy of a stored object as seen through rt's version."""
        if rt.group == KYMA:
            return apirule_convert(obj, rt.version)
        out = copy.deepcopy(obj)
        out["apiVersion"], out["kind"] = rt.api_version, rt.kind
        return out

    def _stamp(self, rt, obj, old, internal=False):
        md = obj.setdefault("metadata", {})
        if old is None:
            md["uid"] = md.get("uid") or str(uuid.uuid4())
            md["creationTimestamp"] = md.get("creationTimestamp") or now_iso()
            if rt.generation:
                md["generation"] = 1
        else:
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds"):
                if k in old["metadata"]:
                    md[k] = old["metadata"][k]
                elif not internal or k in ("uid", "creationTimestamp"):   # clients cannot set these
                    md.pop(k, None)
            if rt.generation:
                gen = old["metadata"].get("generation", 1)
                strip = lambda o: {k: v for k, v in o.items() if k not in ("metadata", "status", "apiVersion", "kind")}
                md["generation"] = gen + 1 if strip(obj) != strip(old) else gen
        return obj

    def _commit(self, rt, obj, old, event=None):
        """Stores obj (already stamped) with a new resourceVersion and records the watch event."""
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        key = (obj["metadata"].get("namespace") if rt.namespaced else None, obj["metadata"]["name"])
        self._objects[rt.store][key] = obj
        self._record(event or ("MODIFIED" if old else "ADDED"), rt.store, obj, old)

    def _remove(self, store, key):
        obj = self._objects[store].pop(key, None)
        if obj is None:
            return
        self._rv += 1
        gone = copy.deepcopy(obj)
        gone["metadata"]["resourceVersion"] = str(self._rv)
        self._owners.pop(store + key, None)
        uid = obj["metadata"]["uid"]
        if uid in self._backends:
            self._gone.append(self._backends.pop(uid))
        self._hook_started.discard(uid)
        self._born.pop(uid, None)
        self._failed_pods.pop(uid, None)
        self._record("DELETED", store, gone, obj)

    def _record(self, etype, store, obj, prev):
        self._history.append((self._rv, etype, store, copy.deepcopy(obj), prev))
        while len(self._history) > self.history_size:
            self._compacted_rv = self._history.popleft()[0]
        self._cond.notify_all()

    def _update(self, store, key, mutate):
        """Controller-side read-modify-write; commits only when something changed."""
        old = self._objects[store].get(key)
        if old is None:
            return None
        new = copy.deepcopy(old)
        mutate(new)
        if new == old:
            return old
        rt = self._type_for_store(store)
        self._commit(rt, self._stamp(rt, new, old, internal=True), old)
        return new

    # ---------------------------------------------------------------- HTTP dispatch
    def _dispatch(self, h):
        parsed = urllib.parse.urlsplit(h.path)
        path = parsed.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query, keep_blank_values=True).items()}
        ctype = (h.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        with self._lock:
            self.requests.append((h.command, path, query, ctype, h.headers.get("User-Agent", "")))
            self.request_hosts.append(h.headers.get("Host"))
        try:
            body = h.read_body()
            if path in ("/version", "/healthz", "/livez", "/readyz"):
                return self._public(h, path)
            user = self._authenticate(h)
            fault = self._take_fault(h.command, path)
            if fault:
                raise fault
            if path.startswith("/openapi/v3"):
                return h.send_json(200, self._openapi_v3(path))
            if path.startswith("/openapi") or path == "/":
                raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
            disc = self._discovery(path)
            if disc is not None:
                return h.send_json(200, disc)
            self._serve_resource(h, path, query, ctype, body, user)
        except ApiError as e:
            try:
                h.send_json(e.code, e.status(), e.headers)
            except OSError:
                pass
        except (ConnectionError, BrokenPipeError):
            h.close_connection = True
        except Exception as e:   # a bug here: answer 500 and keep the traceback
            tb = traceback.format_exc()
            with self._lock:
                self.controller_errors.append(tb)
            h.send_json(500, ApiError(500, "InternalError", f"Internal error occurred: {e!r}").status())

    def _public(self, h, path):
        if path == "/version":
            major, minor = self.version
            return h.send_json(200, {"major": major, "minor": minor, "gitVersion": f"v{major}.{minor}.0",
                                     "gitCommit": "0" * 40, "gitTreeState": "clean",
                                     "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.23.0",
                                     "compiler": "gc", "platform": "linux/amd64"})
        h.send_bytes(200, b"ok", "text/plain; charset=utf-8")

    def _authenticate(self, h):
        if isinstance(h.request, ssl.SSLSocket) and self._client_cert:
            cert = h.request.getpeercert()
            if cert:
                for rdn in cert.get("subject", ()):
                    for k, v in rdn:
                        if k == "commonName":
                            return v
        auth = h.headers.get("Authorization") or ""
        if self.token is not None and auth == f"Bearer {self.token}":
            return self.user
        if self.anonymous and not auth:
            return "system:anonymous"
        raise ApiError(401, "Unauthorized", "Unauthorized")

    def _take_fault(self, method, path):
        with self._lock:
            for f in self._faults:
                if f["remaining"] > 0 and f["method"] in (method, "*") and f["path"].search(path):
                    f["remaining"] -= 1
                    reason = f["reason"] or {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
                                             504: "Timeout"}.get(f["code"], "InternalError")
                    headers = {"Retry-After": str(f["retry_after"])} if f["retry_after"] is not None else None
                    return ApiError(f["code"], reason, f"injected {f['code']} for {method} {path}", {}, headers)
        return None

    # ---------------------------------------------------------------- discovery
    def _openapi_v3(self, path):
        """Just enough OpenAPI v3 for kubectl: every PATCH operation declares the fieldValidation query
        parameter, so kubectl leaves validation to the server (which accepts every field) instead of
        validating client-side against schemas this server does not have."""
        gvs = collections.OrderedDict()
        for t in self._types:
            gvs.setdefault(f"apis/{t.group}/{t.version}" if t.group else "api/v1", []).append(t)
        if path == "/openapi/v3":
            return {"paths": {k: {"serverRelativeURL": f"/openapi/v3/{k}?hash="
                                  f"{hashlib.sha256(k.encode()).hexdigest()[:16].upper()}"} for k in gvs}}
        key = path[len("/openapi/v3/"):]
        if key not in gvs:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        paths = {}
        for t in gvs[key]:
            base = f"/{key}/" + ("namespaces/{namespace}/" if t.namespaced else "") + t.resource + "/{name}"
            gvk = {"group": t.group, "version": t.version, "kind": t.kind}
            paths[base] = {"patch": {
                "operationId": f"patch{t.kind}", "x-kubernetes-action": "patch",
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                               for n in ("dryRun", "fieldManager", "fieldValidation", "force")],
                "responses": {"200": {"description": "OK"}}}}
        return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": f"v{'.'.join(self.version)}.0"},
                "paths": paths, "components": {"schemas": {}}}

    def _groups(self):
        groups = collections.OrderedDict()
        for t in self._types:
            if t.group:
                groups.setdefault(t.group, [])
                if t.version not in groups[t.group]:
                    groups[t.group].append(t.version)
        return groups

    def _api_group(self, name, versions):
        gvs = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
        return {"name": name, "versions": gvs, "preferredVersion": gvs[0]}

    def _resource_list(self, group, version):
        resources = []
        for t in self._types:
            if t.group != group or t.version != version:
                continue
            r = {"name": t.resource, "singularName": t.kind.lower(), "namespaced": t.namespaced, "kind": t.kind,
                 "verbs": ALL_VERBS}
            if t.short:
                r["shortNames"] = t.short
            if t.categories:
                r["categories"] = t.categories
            resources.append(r)
            for sub in t.subresources:
                verbs = {"log": ["get"], "finalize": ["update"]}.get(sub, ["get", "patch", "update"])
                resources.append({"name": f"{t.resource}/{sub}", "singularName": "", "namespaced": t.namespaced,
                                  "kind": "Pod" if sub == "log" else t.kind, "verbs": verbs})
        gv = f"{group}/{version}" if group else version
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}

    def _discovery(self, path):
        if path == "/api":
            return {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": f"{self.host}:{self.port}"}]}
        if path == "/api/v1":
            return self._resource_list("", "v1")
        if path == "/apis":
            return {"kind": "APIGroupList", "apiVersion": "v1",
                    "groups": [self._api_group(g, vs) for g, vs in self._groups().items()]}
        parts = path.split("/")[2:] if path.startswith("/apis/") else None
        if parts and len(parts) == 1:
            vs = self._groups().get(parts[0])
            if vs is None:
                raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
            return {"kind": "APIGroup", "apiVersion": "v1", **self._api_group(parts[0], vs)}
        if parts and len(parts) == 2:
            if parts[1] not in self._groups().get(parts[0], []):
                raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
            return self._resource_list(parts[0], parts[1])
        return None

    # ---------------------------------------------------------------- resources
    def _parse_path(self, path):
        segs = path.strip("/").split("/")
        if segs[0] == "api" and len(segs) >= 3 and segs[1] == "v1":
            group, version, rest = "", "v1", segs[2:]
        elif segs[0] == "apis" and len(segs) >= 4:
            group, version, rest = segs[1], segs[2], segs[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        ns = name = sub = None
        if rest[0] == "namespaces" and len(rest) >= 3 and not (group == "" and len(rest) == 3 and rest[2] in (
                "status", "finalize")):
            ns, rest = rest[1], rest[2:]
        resource = rest[0]
        if len(rest) >= 2:
            name = rest[1]
        if len(rest) >= 3:
            sub = "/".join(rest[2:])
        rt = self._by_gvr.get((group, version, resource))
        if rt is None or len(rest) > 3 or (sub and sub not in rt.subresources):
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if ns is not None and not rt.namespaced:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        return rt, ns, name, sub

    def _verb(self, method, name, query):
        if method in ("GET", "HEAD"):
            if name is None:
                return "watch" if query.get("watch") in ("1", "true") else "list"
            return "get"
        return {"POST": "create", "PUT": "update", "PATCH": "patch",
                "DELETE": "delete" if name else "deletecollection"}[method]

    def _authorize(self, user, verb, rt, sub, ns, name):
        res = rt.resource + (f"/{sub}" if sub else "")
        for entry in self.forbidden:
            v, r = entry[0], entry[1]
            n = entry[2] if len(entry) > 2 else None
            if v in (verb, "*") and r in (res, "*") and (n is None or n == ns):
                where = f' in the namespace "{ns}"' if ns else " at the cluster scope"
                target = f'{rt.qualified} "{name}"' if name else rt.qualified
                raise ApiError(403, "Forbidden", f'{target} is forbidden: User "{user}" cannot {verb} resource '
                               f'"{res}" in API group "{rt.group}"{where}', _details(rt, name))

    def _serve_resource(self, h, path, query, ctype, body, user):
        rt, ns, name, sub = self._parse_path(path)
        verb = self._verb(h.command, name, query)
        self._authorize(user, verb, rt, sub, ns, name)
        if rt.namespaced and ns is None and verb not in ("list", "watch"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        dry = query.get("dryRun") == "All"
        if verb == "watch":
            return self._watch(h, rt, ns, query)
        table = "as=Table" in (h.headers.get("Accept") or "")
        if verb == "list":
            out = self._list(rt, ns, query)
            return h.send_json(200, self._table(rt, out["items"], out["metadata"]) if table else out)
        if sub == "log":
            return h.send_bytes(200, self._pod_log(rt, ns, name).encode(), "text/plain")
        if verb == "get":
            with self._lock:
                obj = self._objects[rt.store].get((ns, name))
                if obj is None:
                    raise not_found(rt, name)
                obj = self._present(rt, obj)
            return h.send_json(200, self._table(rt, [obj], {"resourceVersion": obj["metadata"]["resourceVersion"]})
                               if table else obj)
        if verb == "deletecollection":
            return h.send_json(200, self._delete_collection(rt, ns, query, body))
        if verb == "delete":
            code, out = self._delete(rt, ns, name, query, body, dry)
            return h.send_json(code, out)
        manager = query.get("fieldManager") or (h.headers.get("User-Agent") or "unknown").split("/")[0]
        if verb == "create":
            obj = self._decode(body, ctype, ("application/json", "application/yaml"))
            return h.send_json(201, self._create(rt, ns, obj, manager, dry))
        if verb == "update":
            obj = self._decode(body, ctype, ("application/json", "application/yaml"))
            return h.send_json(200, self._replace(rt, ns, name, sub, obj, manager, dry))
        if verb == "patch":
            if ctype not in (APPLY, MERGE, STRATEGIC, JSONPATCH):
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                               "accepted media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml, "
                               "application/strategic-merge-patch+json")
            if ctype == STRATEGIC and not rt.builtin:
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - "
                               "accepted media types include: application/json-patch+json, "
                               "application/merge-patch+json, application/apply-patch+yaml")
            code, out = self._patch(rt, ns, name, sub, ctype, body, query, manager, dry)
            return h.send_json(code, out)
        raise ApiError(405, "MethodNotAllowed", f"the server does not allow this method on the requested resource")

    def _decode(self, body, ctype, accepted):
        if ctype and ctype not in accepted:
            raise ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - accepted '
                           f'media types include: {", ".join(accepted)}')
        try:
            obj = json.loads(body) if ctype in ("", "application/json") else yaml.safe_load(body)
        except (ValueError, yaml.YAMLError) as e:
            raise bad_request(f"the object provided is unrecognized: {e}")
        if not isinstance(obj, (dict, list)):
            raise bad_request("the object provided is unrecognized")
        return obj

    def _check_kind(self, rt, obj):
        if not isinstance(obj, dict):
            raise bad_request("the object provided is unrecognized")
        if obj.get("kind") and obj.get("kind") != rt.kind:
            raise bad_request(f"the kind in the data ({obj.get('kind')}) does not match the expected kind ({rt.kind})")
        if obj.get("apiVersion") and obj.get("apiVersion") != rt.api_version:
            raise bad_request(f"the API version in the data ({obj['apiVersion']}) does not match the expected API "
                              f"version ({rt.api_version})")
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        obj.setdefault("metadata", {})

    def _check_namespace(self, rt, ns, obj):
        if not rt.namespaced:
            obj["metadata"].pop("namespace", None)
            return
        if obj["metadata"].get("namespace") and obj["metadata"]["namespace"] != ns:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        obj["metadata"]["namespace"] = ns
        nsobj = self._objects[("", "namespaces")].get((None, ns))
        if nsobj is None:
            raise namespace_not_found(ns)
        if nsobj["metadata"].get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", f'{rt.qualified} "{obj["metadata"].get("name", "")}" is forbidden: unable '
                           f"to create new content in namespace {ns} because it is being terminated",
                           _details(rt, obj["metadata"].get("name"), causes=[{
                               "reason": "NamespaceTerminating", "message": f"namespace {ns} is being terminated",
                               "field": "metadata.namespace"}]))

    # ---------------------------------------------------------------- validation and defaults
    def _validate(self, rt, obj):
        name = obj["metadata"].get("name", "")
        causes = []
        if not name:
            causes.append(("metadata.name", "Required value: name or generateName is required"))
        elif rt.resource in ("namespaces",) and not DNS1123_LABEL.match(name):
            causes.append(("metadata.name", f'Invalid value: "{name}": {MSG_LABEL}'))
        elif rt.resource == "services" and not DNS1035_LABEL.match(name):
            causes.append(("metadata.name", f'Invalid value: "{name}": {MSG_1035}'))
        elif not DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
            causes.append(("metadata.name", f'Invalid value: "{name}": {MSG_SUBDOMAIN}'))
        for k, v in (obj["metadata"].get("labels") or {}).items():
            if not isinstance(v, str) or len(v) > 63 or not re.match(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$",
                                                                      v):
                causes.append((f"metadata.labels", f'Invalid value: "{v}": a valid label must be an empty string or '
                               "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                               "alphanumeric character"))
        spec = obj.get("spec") or {}
        if rt.resource in ("deployments", "replicasets"):
            sel = spec.get("selector")
            tlabels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
            if not sel:
                causes.append(("spec.selector", "Required value"))
            elif not selector_matches(sel, tlabels):
                causes.append(("spec.template.metadata.labels", f"Invalid value: {json.dumps(tlabels)}: `selector` "
                               "does not match template `labels`"))
            containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
            if not containers:
                causes.append(("spec.template.spec.containers", "Required value"))
            for i, c in enumerate(containers):
                if not c.get("image"):
                    causes.append((f"spec.template.spec.containers[{i}].image", "Required value"))
                if not c.get("name"):
                    causes.append((f"spec.template.spec.containers[{i}].name", "Required value"))
            if isinstance(spec.get("replicas"), int) and spec["replicas"] < 0:
                causes.append(("spec.replicas", f"Invalid value: {spec['replicas']}: must be greater than or equal to 0"))
        elif rt.resource == "services":
            if spec.get("type", "ClusterIP") != "ExternalName" and not spec.get("ports") and \
                    spec.get("clusterIP") != "None":
                causes.append(("spec.ports", "Required value"))
        elif rt.resource == "apirules":
            v2 = obj["apiVersion"].endswith("/v2")
            hosts = spec.get("hosts") if v2 else ([spec["host"]] if spec.get("host") else [])
            if not hosts:
                causes.append(("spec.hosts" if v2 else "spec.host", "Required value"))
            for i, r in enumerate(spec.get("rules") or []):
                if v2 and sum(1 for k in ("noAuth", "jwt", "extAuth") if r.get(k)) != 1:
                    causes.append((f"spec.rules[{i}]", "Invalid value: \"object\": One of the following fields must "
                                   "be set: noAuth, jwt, extAuth"))
            if not spec.get("rules"):
                causes.append(("spec.rules", "Required value"))
            if not (spec.get("service") or all(r.get("service") for r in spec.get("rules") or [{}])):
                causes.append(("spec.service", "Required value"))
        elif rt.resource == "virtualservices":
            causes += virtualservice_problems(spec)
        elif rt.resource == "secrets" and obj.get("type") == "kubernetes.io/dockerconfigjson":
            raw = (obj.get("data") or {}).get(".dockerconfigjson")
            if raw is None and (obj.get("stringData") or {}).get(".dockerconfigjson") is None:
                causes.append(("data[.dockerconfigjson]", "Required value"))
            elif raw is not None:
                try:
                    json.loads(base64.b64decode(raw))
                except Exception as e:
                    causes.append(("data[.dockerconfigjson]", f"Invalid value: \"<secret contents redacted>\": {e}"))
        if causes:
            raise invalid(rt, name, causes)

    def _defaults(self, rt, obj, old):
        spec = obj.get("spec")
        if rt.resource in ("deployments", "replicasets") and isinstance(spec, dict):
            pod = (spec.get("template") or {}).get("spec")
            if isinstance(pod, dict):
                pod.setdefault("restartPolicy", "Always")
                pod.setdefault("dnsPolicy", "ClusterFirst")
                pod.setdefault("terminationGracePeriodSeconds", 30)
                pod.setdefault("schedulerName", "default-scheduler")
                for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
                    if isinstance(c, dict):
                        image = str(c.get("image", ""))
                        c.setdefault("imagePullPolicy", "Always" if image.endswith(":latest") or ":" not in
                                     image.rsplit("/", 1)[-1] else "IfNotPresent")
                        c.setdefault("terminationMessagePath", "/dev/termination-log")
                        c.setdefault("terminationMessagePolicy", "File")
                        for port in c.get("ports") or []:
                            if isinstance(port, dict):
                                port.setdefault("protocol", "TCP")
        if rt.resource == "deployments" and isinstance(spec, dict):
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
            spec.setdefault("strategy", {"type": "RollingUpdate",
                                         "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
        elif rt.resource == "services" and isinstance(spec, dict):
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
                prev = ((old or {}).get("spec") or {}).get("clusterIP")
                if not prev:
                    self._ip_counter += 1
                    prev = f"10.96.{self._ip_counter // 250}.{self._ip_counter % 250 + 1}"
                spec["clusterIP"] = prev
                spec["clusterIPs"] = [prev]
            for i, p in enumerate(spec.get("ports") or []):
                p.setdefault("protocol", "TCP")
                p.setdefault("targetPort", p.get("port"))
                if spec["type"] in ("NodePort", "LoadBalancer") and "nodePort" not in p:
                    old_ports = ((old or {}).get("spec") or {}).get("ports") or []
                    p["nodePort"] = old_ports[i].get("nodePort", 30000 + i) if i < len(old_ports) else \
                        30000 + (self._ip_counter * 7 + i) % 2767
        elif rt.resource == "secrets":
            obj.setdefault("type", "Opaque")
            for k, v in (obj.pop("stringData", None) or {}).items():
                obj.setdefault("data", {})[k] = base64.b64encode(v.encode()).decode()
        elif rt.resource == "namespaces":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj["status"] = (old or {}).get("status") or {"phase": "Active"}
        elif rt.resource == "events":
            obj.setdefault("count", 1)

    # ---------------------------------------------------------------- verbs
    def _prepare_write(self, rt, obj, old, status_only=False):
        """Validation, defaulting, status handling of a main-resource or status write."""
        if status_only:
            new = copy.deepcopy(old)
            new["status"] = obj.get("status")
            if new["status"] is None:
                new.pop("status")
            return new
        if "status" in rt.subresources or rt.resource == "namespaces":
            if old is not None and "status" in old:
                obj["status"] = copy.deepcopy(old["status"])
            elif old is not None or rt.resource not in ("pods",):
                obj.pop("status", None)
        self._validate(rt, obj)
        self._defaults(rt, obj, old)
        return obj

    def _set_owner(self, rt, obj, manager, op, paths, take=None):
        """Records `paths` as owned by (manager, op); `take` (default: all of them) are taken away from
        the other managers (an Update always takes; an Apply shares fields whose value it keeps)."""
        key = rt.store + (obj["metadata"].get("namespace") if rt.namespaced else None, obj["metadata"]["name"])
        owners = self._owners.setdefault(key, {})
        take = paths if take is None else take
        for m, entry in owners.items():
            if m != (manager, op):
                entry["paths"] -= take
        owners[(manager, op)] = {"manager": manager, "op": op, "apiVersion": rt.api_version, "time": now_iso(),
                                 "paths": set(paths)}
        for k in [k for k, e in owners.items() if not e["paths"]]:
            del owners[k]
        obj["metadata"]["managedFields"] = [
            {"manager": e["manager"], "operation": e["op"], "apiVersion": e["apiVersion"], "time": e["time"],
             "fieldsType": "FieldsV1", "fieldsV1": fields_v1(e["paths"])} for e in owners.values()]

    def _create(self, rt, ns, obj, manager, dry, op="Update", apply_paths=None):
        self._check_kind(rt, obj)
        with self._lock:
            self._check_namespace(rt, ns, obj)
            md = obj["metadata"]
            if not md.get("name") and md.get("generateName"):
                md["name"] = md["generateName"] + _rand_suffix()
            for k in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation",
                      "managedFields"):
                md.pop(k, None)
            obj = self._prepare_write(rt, obj, None)
            key = (ns, md["name"])
            if key in self._objects[rt.store]:
                raise already_exists(rt, md["name"])
            obj = self._stamp(rt, obj, None)
            if dry:
                return self._present(rt, obj)
            self._set_owner(rt, obj, manager, op, apply_paths if apply_paths is not None else leaf_paths(obj))
            self._commit(rt, obj, None)
            return self._present(rt, obj)

    def _replace(self, rt, ns, name, sub, obj, manager, dry):
        self._check_kind(rt, obj)
        with self._lock:
            key = (ns, name)
            old = self._objects[rt.store].get(key)
            if obj["metadata"].get("name") not in (None, name):
                raise bad_request(f"the name of the object ({obj['metadata'].get('name')}) does not match the name on "
                                  f"the URL ({name})")
            obj["metadata"]["name"] = name
            if old is None:
                raise not_found(rt, name)
            if rt.namespaced:
                self._check_namespace(rt, ns, obj)
            rv = obj["metadata"].get("resourceVersion")
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            if rt.group == KYMA and old.get("apiVersion") != obj["apiVersion"]:
                old = apirule_convert(old, rt.version)
            new = self._prepare_write(rt, obj, old, status_only=(sub == "status"))
            if sub != "status":
                for k in ("managedFields",):
                    new["metadata"].pop(k, None)
            new = self._stamp(rt, new, old)
            if dry:
                return self._present(rt, new)
            if _same(new, old):
                return self._present(rt, old)
            changed = leaf_paths(new) ^ leaf_paths(old) | {p for p in leaf_paths(new) if get_path(new, p) != get_path(
                old, p)}
            if sub == "status":
                self._keep_managed(rt, new, old)
            else:
                self._keep_managed(rt, new, old)
                self._set_owner(rt, new, manager, "Update", changed & leaf_paths(new))
            self._commit(rt, new, self._objects[rt.store][key])
            return self._present(rt, new)

    def _keep_managed(self, rt, new, old):
        if "managedFields" in old["metadata"]:
            new["metadata"]["managedFields"] = copy.deepcopy(old["metadata"]["managedFields"])

    def _patch(self, rt, ns, name, sub, ctype, body, query, manager, dry):
        try:
            patch = yaml.safe_load(body) if ctype == APPLY else json.loads(body or b"null")
        except (ValueError, yaml.YAMLError) as e:
            raise bad_request(f"error decoding patch: {e}")
        if ctype == APPLY:
            return self._apply(rt, ns, name, sub, patch, query, dry)
        with self._lock:
            key = (ns, name)
            old = self._objects[rt.store].get(key)
            if old is None:
                raise not_found(rt, name)
            current = self._present(rt, old)
            if ctype == JSONPATCH:
                if not isinstance(patch, list):
                    raise bad_request("json patch must be a list of operations")
                new = json_patch(current, patch)
            elif not isinstance(patch, dict):
                raise bad_request("patch must be a JSON object")
            elif ctype == MERGE:
                new = merge_patch(current, patch)
            else:
                new = strategic_merge_patch(current, patch)
            rv = (patch.get("metadata") or {}).get("resourceVersion") if isinstance(patch, dict) else None
            if rv and rv != old["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            new["metadata"]["name"], new["apiVersion"], new["kind"] = name, rt.api_version, rt.kind
            if rt.namespaced:
                new["metadata"]["namespace"] = ns
            new = self._prepare_write(rt, new, current, status_only=(sub == "status"))
            new = self._stamp(rt, new, current)
            if dry:
                return 200, self._present(rt, new)
            if _same(new, current):
                return 200, current
            if sub != "status":
                self._keep_managed(rt, new, old)
                paths = leaf_paths(patch) if isinstance(patch, dict) else {p for p in leaf_paths(new) if get_path(
                    new, p) != get_path(current, p)}
                self._set_owner(rt, new, manager, "Update", paths & leaf_paths(new))
            self._commit(rt, new, old)
            return 200, self._present(rt, new)

    def _apply(self, rt, ns, name, sub, config, query, dry):
        manager = query.get("fieldManager")
        if not manager:
            raise bad_request("PATCH, application/apply-patch+yaml requests require fieldManager query parameter")
        force = query.get("force") in ("true", "1")
        if not isinstance(config, dict):
            raise bad_request("error decoding YAML: the object provided is unrecognized")
        if not config.get("apiVersion") or not config.get("kind"):
            raise bad_request(f"invalid object type: {config.get('apiVersion', '')}, Kind={config.get('kind', '')}")
        self._check_kind(rt, config)
        md = config["metadata"]
        if md.get("name") not in (None, name):
            raise bad_request(f"the name of the object ({md.get('name')}) does not match the name on the URL ({name})")
        md["name"] = name
        for k in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"):
            md.pop(k, None)
        paths = leaf_paths(config) if sub != "status" else {("status",) + p for p in leaf_paths(
            config.get("status") or {})}
        with self._lock:
            key = (ns, name)
            old = self._objects[rt.store].get(key)
            if old is None:
                if sub == "status":
                    raise not_found(rt, name)
                return 201, self._create(rt, ns, copy.deepcopy(config), manager, dry, op="Apply", apply_paths=paths)
            if rt.namespaced:
                self._check_namespace(rt, ns, config)
            current = self._present(rt, old)
            owners = self._owners.get(rt.store + key, {})
            if not force:
                conflicts = []
                for (m, op), e in owners.items():
                    if m == manager:
                        continue
                    for p in sorted(paths & e["paths"]):
                        if not _covers(get_path(current, p), get_path(config, p)):
                            conflicts.append((m, e["apiVersion"], "." + ".".join(p)))
                if conflicts:
                    msg = "; ".join(f'conflict with "{m}" using {av}: {p}' for m, av, p in conflicts) if len(
                        conflicts) == 1 else "\n" + "\n".join(f'- conflict with "{m}" using {av}: {p}'
                                                              for m, av, p in conflicts)
                    n = len(conflicts)
                    raise ApiError(409, "Conflict", f"Apply failed with {n} conflict{'s' if n > 1 else ''}: {msg}",
                                   _details(rt, name, causes=[{"reason": "FieldManagerConflict",
                                                               "message": f'conflict with "{m}" using {av}',
                                                               "field": p} for m, av, p in conflicts]))
            new = copy.deepcopy(current)
            prev = owners.get((manager, "Apply"))
            if prev:   # fields this manager applied before and no longer sends, owned by nobody else
                others = set().union(*[e["paths"] for k, e in owners.items() if k != (manager, "Apply")])
                for p in prev["paths"] - paths - others:
                    del_path(new, p)
            if sub == "status":
                new["status"] = apply_merge(new.get("status") or {}, config.get("status") or {})
            else:
                new = apply_merge(new, {k: v for k, v in config.items() if k != "status"})
            new = self._prepare_write(rt, new, current, status_only=(sub == "status"))
            new = self._stamp(rt, new, current)
            if dry:
                return 200, self._present(rt, new)
            prev_paths = (owners.get((manager, "Apply")) or {}).get("paths")
            if _same(new, current) and prev_paths == paths:
                return 200, current    # a no-op apply writes nothing: resourceVersion stays
            self._keep_managed(rt, new, old)
            self._set_owner(rt, new, manager, "Apply", paths,
                            take={p for p in paths if not _covers(get_path(current, p), get_path(config, p))})
            self._commit(rt, new, old)
            return 200, self._present(rt, new)

    def _delete_options(self, query, body):
        opts = {}
        if body:
            try:
                opts = json.loads(body)
            except ValueError:
                raise bad_request("the body of the request was not valid DeleteOptions JSON")
        policy = query.get("propagationPolicy") or opts.get("propagationPolicy")
        if policy is None and opts.get("orphanDependents") is not None:
            policy = "Orphan" if opts["orphanDependents"] else "Background"
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise invalid(ResourceType("", "v1", "deleteoptions", "DeleteOptions"), "", [(
                "propagationPolicy", f'Unsupported value: "{policy}": supported values: "Foreground", "Background", '
                                     '"Orphan", "nil"')])
        precond = (opts.get("preconditions") or {})
        return policy, precond

    def _delete(self, rt, ns, name, query, body, dry):
        policy, precond = self._delete_options(query, body)
        with self._lock:
            key = (ns, name)
            obj = self._objects[rt.store].get(key)
            if obj is None:
                raise not_found(rt, name)
            if precond.get("uid") and precond["uid"] != obj["metadata"]["uid"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {rt.qualified} "{name}": '
                               f'Precondition failed: UID in precondition: {precond["uid"]}, UID in object meta: '
                               f'{obj["metadata"]["uid"]}', _details(rt, name))
            if precond.get("resourceVersion") and precond["resourceVersion"] != obj["metadata"]["resourceVersion"]:
                raise conflict(rt, name)
            if dry:
                return 200, self._present(rt, obj)
            if rt.resource == "namespaces":
                new = self._update(rt.store, key, lambda o: (
                    o["metadata"].setdefault("deletionTimestamp", now_iso()), o.__setitem__(
                        "status", {"phase": "Terminating"})))
                return 200, self._present(rt, new)
            if policy == "Orphan":
                self._orphan_dependents(obj["metadata"]["uid"])
            finalizers = list(obj["metadata"].get("finalizers") or [])
            if policy == "Foreground" and "foregroundDeletion" not in finalizers:
                finalizers.append("foregroundDeletion")
            if finalizers or obj["metadata"].get("deletionTimestamp"):
                def mark(o):
                    o["metadata"].setdefault("deletionTimestamp", now_iso())
                    o["metadata"].setdefault("deletionGracePeriodSeconds", 0)
                    o["metadata"]["finalizers"] = finalizers
                new = self._update(rt.store, key, mark)
                return 202 if "foregroundDeletion" in finalizers else 200, self._present(rt, new)
            self._remove(rt.store, key)
            if rt.resource in ("pods", "namespaces") or not rt.builtin:
                return 200, self._present(rt, obj)
            return 200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                         "details": _details(rt, name, uid=obj["metadata"]["uid"])}

    def _delete_collection(self, rt, ns, query, body):
        items = self._list(rt, ns, query)["items"]
        for item in items:
            try:
                self._delete(rt, item["metadata"].get("namespace"), item["metadata"]["name"], query, body, False)
            except ApiError:
                pass
        out = self._list(rt, ns, {})
        out["items"] = items
        return out

    def _orphan_dependents(self, uid):
        for store, objs in self._objects.items():
            for key, o in list(objs.items()):
                refs = o["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    self._update(store, key, lambda x: x["metadata"].__setitem__(
                        "ownerReferences", [r for r in refs if r.get("uid") != uid]))

    def _filter(self, rt, ns, query):
        lsel = parse_label_selector(query.get("labelSelector"))
        fsel = parse_field_selector(query.get("fieldSelector"))

        def match(obj):
            if ns is not None and obj["metadata"].get("namespace") != ns:
                return False
            labels = obj["metadata"].get("labels") or {}
            return all(p(labels) for p in lsel) and all(p(obj) for p in fsel)
        return match

    def _list(self, rt, ns, query):
        match = self._filter(rt, ns, query)
        with self._lock:
            items = [self._present(rt, o) for _, o in sorted(self._objects[rt.store].items(),
                                                             key=lambda kv: (kv[0][0] or "", kv[0][1]))]
            items = [o for o in items if match(o)]
            rv = str(self._rv)
        meta = {"resourceVersion": rv}
        start = 0
        if query.get("continue"):
            try:
                tok = json.loads(base64.urlsafe_b64decode(query["continue"]))
                start = tok["start"]
            except Exception:
                raise bad_request("continue key is not valid")
        limit = int(query.get("limit") or 0)
        if limit > 0 and start + limit < len(items):
            meta["continue"] = base64.urlsafe_b64encode(json.dumps({"start": start + limit, "rv": rv}).encode()).decode()
            meta["remainingItemCount"] = len(items) - start - limit
            items = items[start:start + limit]
        else:
            items = items[start:]
        if rt.builtin:
            for o in items:
                o.pop("apiVersion", None)
                o.pop("kind", None)
        return {"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta, "items": items}

    def _table(self, rt, items, meta):
        """Server-side printing (kubectl get without -o): a meta.k8s.io/v1 Table with kubectl's columns."""
        def age(o):
            ts = o["metadata"].get("creationTimestamp")
            try:
                secs = int(time.time() - datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(
                    tzinfo=datetime.timezone.utc).timestamp())
            except (TypeError, ValueError):
                return "<unknown>"
            return f"{secs}s" if secs < 120 else f"{secs // 60}m" if secs < 7200 else f"{secs // 3600}h"

        def pod_status(p):
            for c in (p.get("status") or {}).get("containerStatuses") or []:
                if (c.get("state") or {}).get("waiting"):
                    return c["state"]["waiting"].get("reason", "Waiting")
            if p["metadata"].get("deletionTimestamp"):
                return "Terminating"
            return (p.get("status") or {}).get("phase", "Pending")

        st = lambda o: o.get("status") or {}
        sp = lambda o: o.get("spec") or {}
        columns = {
            "deployments": [("Ready", lambda o: f"{st(o).get('readyReplicas', 0)}/{sp(o).get('replicas', 1)}"),
                            ("Up-to-date", lambda o: st(o).get("updatedReplicas", 0)),
                            ("Available", lambda o: st(o).get("availableReplicas", 0))],
            "replicasets": [("Desired", lambda o: sp(o).get("replicas", 0)),
                            ("Current", lambda o: st(o).get("replicas", 0)),
                            ("Ready", lambda o: st(o).get("readyReplicas", 0))],
            "pods": [("Ready", lambda o: "%d/%d" % (sum(1 for c in st(o).get("containerStatuses") or [] if c.get(
                "ready")), len(sp(o).get("containers") or []))), ("Status", pod_status),
                     ("Restarts", lambda o: sum(c.get("restartCount", 0) for c in st(o).get("containerStatuses") or []))],
            "services": [("Type", lambda o: sp(o).get("type", "ClusterIP")),
                         ("Cluster-IP", lambda o: sp(o).get("clusterIP", "<none>")),
                         ("External-IP", lambda o: ",".join(i.get("ip", "") for i in (st(o).get("loadBalancer") or {})
                                                             .get("ingress") or []) or "<none>"),
                         ("Port(s)", lambda o: ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}"
                                                        for p in sp(o).get("ports") or []))],
            "ingresses": [("Class", lambda o: sp(o).get("ingressClassName", "<none>")),
                          ("Hosts", lambda o: ",".join(r.get("host", "*") for r in sp(o).get("rules") or [])),
                          ("Address", lambda o: ",".join(i.get("ip", "") for i in (st(o).get("loadBalancer") or {})
                                                         .get("ingress") or []))],
            "apirules": [("Status", lambda o: st(o).get("state") or (st(o).get("APIRuleStatus") or {}).get("code", "")),
                         ("Hosts", lambda o: ",".join(sp(o).get("hosts") or [sp(o).get("host", "")]))],
            "virtualservices": [("Gateways", lambda o: ",".join(sp(o).get("gateways") or [])),
                                ("Hosts", lambda o: ",".join(sp(o).get("hosts") or []))],
            "events": [("Type", lambda o: o.get("type", "")), ("Reason", lambda o: o.get("reason", "")),
                       ("Object", lambda o: f"{o['involvedObject'].get('kind', '').lower()}/"
                                           f"{o['involvedObject'].get('name')}"),
                       ("Message", lambda o: o.get("message", ""))],
            "namespaces": [("Status", lambda o: st(o).get("phase", "Active"))],
            "secrets": [("Type", lambda o: o.get("type", "Opaque")), ("Data", lambda o: len(o.get("data") or {}))],
        }.get(rt.resource, [])
        cols = [("Name", lambda o: o["metadata"]["name"])] + columns + [("Age", age)]
        defs = [{"name": n, "type": "integer" if n in ("Up-to-date", "Available", "Desired", "Current", "Restarts",
                                                       "Data") else "string",
                 "format": "name" if n == "Name" else "", "description": n, "priority": 0} for n, _ in cols]
        rows = [{"cells": [f(o) for _, f in cols],
                 "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                            "metadata": o["metadata"]}} for o in items]
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": defs,
                "rows": rows}

    def _pod_log(self, rt, ns, name):
        with self._lock:
            if (ns, name) not in self._objects[rt.store]:
                raise not_found(rt, name)
            if (ns, name) in self._pod_logs:
                return self._pod_logs[(ns, name)]
            pod = self._objects[rt.store][(ns, name)]
            for c in pod["spec"].get("containers") or []:
                fail = self._failures.get(c.get("image"))
                if fail and fail[2]:
                    return fail[2]
            return ""

    # ---------------------------------------------------------------- watch
    def _watch(self, h, rt, ns, query):
        match = self._filter(rt, ns, query)
        timeout = float(query.get("timeoutSeconds") or 0) or None
        bookmarks = query.get("allowWatchBookmarks") in ("true", "1")
        rv_param = query.get("resourceVersion") or ""
        deadline = time.monotonic() + timeout if timeout else None
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.send_header("Cache-Control", "no-cache, private")
        h.end_headers()

        def send(etype, obj):
            data = json.dumps({"type": etype, "object": obj}).encode() + b"\n"
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            h.wfile.flush()

        try:
            with self._lock:
                if rv_param in ("", "0"):
                    last = self._rv
                    initial = [self._present(rt, o) for o in self._objects[rt.store].values()]
                    initial = [o for o in initial if match(o)]
                else:
                    try:
                        last = int(rv_param)
                    except ValueError:
                        raise bad_request(f'invalid resource version "{rv_param}"')
                    initial = []
                    if last < self._compacted_rv:
                        err = ApiError(410, "Expired", f"too old resource version: {last} ({self._compacted_rv})")
                        initial = None
            if initial is None:
                send("ERROR", err.status())
            else:
                for o in initial:
                    send("ADDED", o)
                next_bookmark = time.monotonic() + self.bookmark_interval
                while not self._stopping.is_set():
                    out = []
                    with self._cond:
                        newest = self._history[-1][0] if self._history else self._rv
                        if newest <= last and last >= self._compacted_rv:
                            wait = 0.5
                            if deadline:
                                wait = min(wait, deadline - time.monotonic())
                            if bookmarks:
                                wait = min(wait, next_bookmark - time.monotonic())
                            if wait > 0:
                                self._cond.wait(wait)
                        if last < self._compacted_rv:
                            out.append(("ERROR", ApiError(410, "Expired", f"too old resource version: {last} "
                                                          f"({self._compacted_rv})").status()))
                        else:
                            for rv, etype, store, obj, prev in self._history:
                                if rv <= last or store != rt.store:
                                    continue
                                now_m = match(self._present(rt, obj))
                                before = prev is not None and etype == "MODIFIED" and match(self._present(rt, prev))
                                if etype in ("DELETED", "ADDED"):
                                    typ = etype if now_m else None
                                else:
                                    typ = ("MODIFIED" if before else "ADDED") if now_m else (
                                        "DELETED" if before else None)
                                if typ:
                                    out.append((typ, self._present(rt, obj)))
                            last = max(last, self._history[-1][0] if self._history else last)
                    for etype, obj in out:
                        send(etype, obj)
                    if out and out[-1][0] == "ERROR":
                        break
                    if out and self.end_watch_after_changes:
                        break
                    if bookmarks and time.monotonic() >= next_bookmark:
                        send("BOOKMARK", {"kind": rt.kind, "apiVersion": rt.api_version,
                                          "metadata": {"resourceVersion": str(last)}})
                        next_bookmark = time.monotonic() + self.bookmark_interval
                    if deadline and time.monotonic() >= deadline:
                        break
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        except (ConnectionError, BrokenPipeError, OSError):
            h.close_connection = True

    # ---------------------------------------------------------------- controllers
    def _controller_loop(self):
        while not self._stopping.wait(self.tick):
            try:
                with self._round:
                    self._reconcile()
            except Exception:
                tb = traceback.format_exc()
                with self._lock:
                    self.controller_errors.append(tb)
                print(tb, file=sys.stderr)

    def _objs(self, group, resource):
        return self._objects[(group, resource)]

    def _reconcile(self):
        with self._lock:
            self._garbage_collect()
            calls = self._deployments()
            gone, self._gone = self._gone, []
        for rs_uid, deployment in calls:   # the hook may be slow (it may start a server): no lock held
            try:
                url = self.on_pod_ready(deployment) if self.on_pod_ready else None
                failure = None
            except Exception as e:
                url, failure = None, f"{type(e).__name__}: {e}"
            with self._lock:
                self._backends[rs_uid] = url
                if failure:
                    self._backends[rs_uid] = ("failed", failure)
        for url in gone:
            if self.on_backend_gone and isinstance(url, str):
                try:
                    self.on_backend_gone(url)
                except Exception:
                    traceback.print_exc()
        with self._lock:
            self._apirules()
            self._load_balancers()

    # garbage collector: foreground deletion, dependents of deleted owners, namespaces
    def _garbage_collect(self):
        uids = {o["metadata"]["uid"] for objs in self._objects.values() for o in objs.values()}
        now = time.monotonic()
        for store, objs in list(self._objects.items()):
            for key, o in list(objs.items()):
                md = o["metadata"]
                refs = md.get("ownerReferences") or []
                if refs and not any(r.get("uid") in uids for r in refs):
                    self._remove(store, key)   # background deletion of dependents
                    continue
                if not md.get("deletionTimestamp"):
                    continue
                marked = self._marked.setdefault(store + key + (md["uid"],), now)
                if store == ("", "namespaces"):
                    ns = key[1]
                    left = False
                    for s2, objs2 in self._objects.items():
                        for k2 in [k for k in objs2 if k[0] == ns]:
                            self._remove(s2, k2)
                            left = True
                    if not left and now - marked >= self.deletion_delay:
                        self._remove(store, key)
                    continue
                finalizers = md.get("finalizers") or []
                if "foregroundDeletion" in finalizers:
                    deps = [(s2, k2, o2) for s2, objs2 in self._objects.items() for k2, o2 in objs2.items()
                            if any(r.get("uid") == md["uid"] for r in o2["metadata"].get("ownerReferences") or [])]
                    for s2, k2, o2 in deps:
                        if not o2["metadata"].get("deletionTimestamp"):
                            def mark(x):
                                x["metadata"]["deletionTimestamp"] = now_iso()
                                if s2 != ("", "pods"):
                                    x["metadata"]["finalizers"] = list(
                                        set(x["metadata"].get("finalizers") or []) | {"foregroundDeletion"})
                            self._update(s2, k2, mark)
                    if not deps and now - marked >= self.deletion_delay:
                        self._update(store, key, lambda x: x["metadata"].__setitem__(
                            "finalizers", [f for f in finalizers if f != "foregroundDeletion"]))
                        finalizers = [f for f in finalizers if f != "foregroundDeletion"]
                if not finalizers and now - marked >= (self.deletion_delay if store != ("", "pods") else 0):
                    self._remove(store, key)
        live = {k for k in self._marked if k[:-1] in {s + kk for s, objs in self._objects.items() for kk in objs}}
        self._marked = {k: v for k, v in self._marked.items() if k in live}

    def _event(self, involved, reason, message, etype="Normal", component="kubelet", field_path=None):
        ns = involved["metadata"].get("namespace") or "default"
        uid = involved["metadata"]["uid"]
        for key, e in self._objs("", "events").items():
            io = e["involvedObject"]
            if io.get("uid") == uid and e.get("reason") == reason and e.get("message") == message:
                self._update(("", "events"), key, lambda x: (x.__setitem__("count", x.get("count", 1) + 1),
                                                               x.__setitem__("lastTimestamp", now_iso())))
                return
        kind = involved.get("kind") or ""
        io = {"kind": kind, "namespace": ns, "name": involved["metadata"]["name"], "uid": uid,
              "apiVersion": involved.get("apiVersion", "v1"),
              "resourceVersion": involved["metadata"].get("resourceVersion")}
        if field_path:
            io["fieldPath"] = field_path
        ts = now_iso()
        ev = {"apiVersion": "v1", "kind": "Event",
              "metadata": {"name": f"{involved['metadata']['name']}.{secrets.token_hex(8)}", "namespace": ns},
              "involvedObject": io, "reason": reason, "message": message, "type": etype,
              "source": {"component": component, **({"host": "node-1"} if component == "kubelet" else {})},
              "firstTimestamp": ts, "lastTimestamp": ts, "count": 1, "reportingComponent": component,
              "reportingInstance": "node-1" if component == "kubelet" else ""}
        rt = self._type("", "v1", "events")
        if (None, ns) in self._objs("", "namespaces"):
            self._commit(rt, self._stamp(rt, ev, None), None)

    # deployment + replicaset + pod simulation
    def _deployments(self):
        calls = []
        rs_store, pod_store = ("apps", "replicasets"), ("", "pods")
        now = time.monotonic()
        for dkey, dep in list(self._objs("apps", "deployments").items()):
            if dep["metadata"].get("deletionTimestamp"):
                continue
            dep = self._present(self._type("apps", "v1", "deployments"), dep)
            md, spec = dep["metadata"], dep.get("spec") or {}
            uid, gen = md["uid"], md.get("generation", 1)
            desired = spec.get("replicas", 1)
            template = spec.get("template") or {}
            h = pod_template_hash(template)
            owned = [(k, rs) for k, rs in self._objs(*rs_store).items()
                     if any(r.get("uid") == uid for r in rs["metadata"].get("ownerReferences") or [])]
            revisions = [int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "0"))
                         for _, rs in owned]
            new = next(((k, rs) for k, rs in owned if rs["metadata"].get("labels", {}).get("pod-template-hash") == h),
                       None)
            prog = self._progress.get(uid)
            if prog is None or prog[0] != gen:
                prog = self._progress[uid] = (gen, now, None)
            if new is None and not spec.get("paused"):
                rev = max(revisions + [0]) + 1
                name = f"{md['name']}-{h}"
                tmpl = copy.deepcopy(template)
                tmpl.setdefault("metadata", {}).setdefault("labels", {})["pod-template-hash"] = h
                sel = copy.deepcopy(spec.get("selector") or {})
                sel.setdefault("matchLabels", {})["pod-template-hash"] = h
                rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {
                    "name": name, "namespace": md["namespace"], "labels": dict(tmpl["metadata"]["labels"]),
                    "annotations": {"deployment.kubernetes.io/revision": str(rev),
                                    "deployment.kubernetes.io/desired-replicas": str(desired),
                                    "deployment.kubernetes.io/max-replicas": str(desired + 1)},
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": md["name"],
                                         "uid": uid, "controller": True, "blockOwnerDeletion": True}]},
                    "spec": {"replicas": desired, "selector": sel, "template": tmpl}}
                rt = self._type("apps", "v1", "replicasets")
                self._commit(rt, self._stamp(rt, rs, None), None)
                new = ((md["namespace"], name), self._objs(*rs_store)[(md["namespace"], name)])
                owned.append(new)
                self._event(dep, "ScalingReplicaSet", f"Scaled up replica set {name} from 0 to {desired}",
                            component="deployment-controller")
                self._progress[uid] = prog = (gen, now, "created")
            elif new is not None:
                nrev = int(new[1]["metadata"]["annotations"].get("deployment.kubernetes.io/revision", "0"))
                if nrev < max(revisions):   # rolled back to an older template: it becomes the newest revision
                    self._update(rs_store, new[0], lambda x: x["metadata"]["annotations"].__setitem__(
                        "deployment.kubernetes.io/revision", str(max(revisions) + 1)))
                if new[1]["spec"].get("replicas") != desired:
                    before = new[1]["spec"].get("replicas", 0)
                    self._update(rs_store, new[0], lambda x: x["spec"].__setitem__("replicas", desired))
                    self._event(dep, "ScalingReplicaSet", f"Scaled {'up' if desired > before else 'down'} replica "
                                f"set {new[0][1]} from {before} to {desired}", component="deployment-controller")
            new_ready = False
            if new is not None:
                new = (new[0], self._objs(*rs_store)[new[0]])
                rev = new[1]["metadata"]["annotations"].get("deployment.kubernetes.io/revision")
                if md.get("annotations", {}).get("deployment.kubernetes.io/revision") != rev:
                    self._update(("apps", "deployments"), dkey, lambda x: x["metadata"].setdefault(
                        "annotations", {}).__setitem__("deployment.kubernetes.io/revision", rev))
            # pods of every owned replicaset
            counts = {}
            for k, rs in owned:
                rs = self._objs(*rs_store).get(k)
                if rs is None:
                    continue
                if rs["metadata"].get("deletionTimestamp"):
                    continue
                counts[k] = self._pods_for(rs, dep, calls)
            if new is not None:
                total, ready = counts.get(new[0], (0, 0))
                new_ready = ready >= desired and total == desired
            # scale old replicasets down once the new one is available (or at once for Recreate)
            recreate = (spec.get("strategy") or {}).get("type") == "Recreate"
            for k, rs in owned:
                if new is not None and k == new[0]:
                    continue
                rs = self._objs(*rs_store).get(k)
                if rs and rs["spec"].get("replicas", 0) > 0 and (new_ready or recreate):
                    before = rs["spec"]["replicas"]
                    self._update(rs_store, k, lambda x: x["spec"].__setitem__("replicas", 0))
                    self._event(dep, "ScalingReplicaSet", f"Scaled down replica set {k[1]} from {before} to 0",
                                component="deployment-controller")
            # revision history limit
            limit = spec.get("revisionHistoryLimit", 10)
            old_empty = sorted([(int(rs["metadata"]["annotations"].get("deployment.kubernetes.io/revision", "0")), k)
                                for k, rs in owned if (new is None or k != new[0]) and k in self._objs(*rs_store)
                                and self._objs(*rs_store)[k]["spec"].get("replicas", 0) == 0])
            for _, k in old_empty[:max(0, len(old_empty) - limit)]:
                self._remove(rs_store, k)
            self._deployment_status(dkey, dep, new, owned, counts, desired, prog, now)
        return calls

    def _pods_for(self, rs, dep, calls):
        """Creates/deletes/advances the pods of one replicaset; returns (pods, ready pods)."""
        pod_store, rs_store = ("", "pods"), ("apps", "replicasets")
        rmd = rs["metadata"]
        rkey = (rmd["namespace"], rmd["name"])
        want = rs["spec"].get("replicas", 0)
        pods = sorted([(k, p) for k, p in self._objs(*pod_store).items()
                       if any(r.get("uid") == rmd["uid"] for r in p["metadata"].get("ownerReferences") or [])
                       and not p["metadata"].get("deletionTimestamp")], key=lambda kp: self._born.get(kp[1]["metadata"]["uid"], 0))
        rt_pod = self._type("", "v1", "pods")
        while len(pods) < want:
            tmpl = copy.deepcopy(rs["spec"].get("template") or {})
            name = f"{rmd['name']}-{_rand_suffix()}"
            pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {
                "name": name, "namespace": rmd["namespace"], "labels": (tmpl.get("metadata") or {}).get("labels", {}),
                "annotations": (tmpl.get("metadata") or {}).get("annotations", {}),
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": rmd["name"],
                                     "uid": rmd["uid"], "controller": True, "blockOwnerDeletion": True}]},
                "spec": tmpl.get("spec") or {},
                "status": {"phase": "Pending", "qosClass": "BestEffort"}}
            if not pod["metadata"]["annotations"]:
                del pod["metadata"]["annotations"]
            pod = self._stamp(rt_pod, pod, None)
            self._commit(rt_pod, pod, None)
            self._born[pod["metadata"]["uid"]] = time.monotonic()
            pods.append(((rmd["namespace"], name), pod))
            self._event(rs, "SuccessfulCreate", f"Created pod: {name}", component="replicaset-controller")
        while len(pods) > want:
            k, p = pods.pop()
            self._remove(pod_store, k)
            self._event(rs, "SuccessfulDelete", f"Deleted pod: {k[1]}", component="replicaset-controller")
        if want == 0 and rmd["uid"] in self._backends:
            self._gone.append(self._backends.pop(rmd["uid"]))
            self._hook_started.discard(rmd["uid"])
        ready = 0
        for k, p in pods:
            if self._advance_pod(k, p, rs, dep, calls):
                ready += 1
        self._update(rs_store, rkey, lambda x: x.__setitem__("status", {
            k2: v for k2, v in {"replicas": len(pods), "fullyLabeledReplicas": len(pods), "readyReplicas": ready,
                                "availableReplicas": ready,
                                "observedGeneration": x["metadata"].get("generation", 1)}.items() if v or k2 in (
                "replicas", "observedGeneration")}))
        return len(pods), ready

    def _pod_failure(self, pod):
        for c in pod["spec"].get("containers") or []:
            if c.get("image") in self._failures:
                return c, self._failures[c["image"]]
        return None, None

    def _advance_pod(self, key, pod, rs, dep, calls):
        """Moves a pod along Pending -> Running/Ready (or its injected failure); True when ready."""
        st = pod.get("status") or {}
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in st.get("conditions") or []):
            return True
        born = self._born.get(pod["metadata"]["uid"], 0)
        if time.monotonic() - born < self.ready_delay:
            return False
        store = ("", "pods")
        ts = now_iso()
        container, failure = self._pod_failure(pod)
        rs_uid = rs["metadata"]["uid"]
        hook = self._backends.get(rs_uid, "pending") if rs_uid in self._hook_started else None
        if failure is None and isinstance(hook, tuple):
            failure = ("CrashLoopBackOff", hook[1], hook[1])
            container = (pod["spec"].get("containers") or [{}])[0]
        pname = pod["metadata"]["name"]
        if failure is not None:
            reason, message, _ = failure
            if self._failed_pods.get(pod["metadata"]["uid"]) != reason:
                self._failed_pods[pod["metadata"]["uid"]] = reason
                self._fail_pod(key, pod, container, reason, message)
            return False
        if rs_uid not in self._hook_started:   # ask the test for a backend before the pods turn ready
            self._hook_started.add(rs_uid)
            calls.append((rs_uid, copy.deepcopy(dep)))
            return False
        if hook == "pending":
            return False
        self._event(pod, "Scheduled", f"Successfully assigned {key[0]}/{pname} to node-1",
                    component="default-scheduler")
        self._ip_counter += 1
        ip = f"10.244.0.{self._ip_counter % 250 + 2}"

        def run(p):
            p["spec"]["nodeName"] = "node-1"
            p["status"] = {
                "phase": "Running", "hostIP": "192.168.0.10", "podIP": ip, "podIPs": [{"ip": ip}], "startTime": ts,
                "qosClass": "BestEffort",
                "conditions": [{"type": t, "status": "True", "lastProbeTime": None, "lastTransitionTime": ts}
                               for t in ("PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady",
                                         "PodScheduled")],
                "containerStatuses": [{"name": c.get("name"), "image": c.get("image"),
                                       "imageID": f"{c.get('image')}@sha256:{hashlib.sha256(str(c.get('image')).encode()).hexdigest()}",
                                       "containerID": f"containerd://{secrets.token_hex(32)}", "ready": True,
                                       "started": True, "restartCount": 0, "state": {"running": {"startedAt": ts}},
                                       "lastState": {}} for c in p["spec"].get("containers") or []]}
        self._update(store, key, run)
        for c in pod["spec"].get("containers") or []:
            self._event(pod, "Pulled", f'Container image "{c.get("image")}" already present on machine',
                        field_path=f"spec.containers{{{c.get('name')}}}")
            self._event(pod, "Started", f"Started container {c.get('name')}",
                        field_path=f"spec.containers{{{c.get('name')}}}")
        return True

    def _fail_pod(self, key, pod, container, reason, message):
        ts = now_iso()
        pname, ns = pod["metadata"]["name"], pod["metadata"]["namespace"]
        image, cname = container.get("image"), container.get("name")
        fp = f"spec.containers{{{cname}}}"
        if reason == "Unschedulable":
            msg = message or ("0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 "
                              "No preemption victims found for incoming pod.")

            def mut(p):
                p["status"] = {"phase": "Pending", "qosClass": "BestEffort", "conditions": [{
                    "type": "PodScheduled", "status": "False", "lastProbeTime": None, "lastTransitionTime": ts,
                    "reason": "Unschedulable", "message": msg}]}
            self._update(("", "pods"), key, mut)
            self._event(pod, "FailedScheduling", msg, "Warning", component="default-scheduler")
            return
        self._event(pod, "Scheduled", f"Successfully assigned {ns}/{pname} to node-1", component="default-scheduler")
        if reason in ("ImagePullBackOff", "ErrImagePull"):
            detail = message or (f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
                                 f'failed to resolve reference "{image}": {image}: not found')
            waiting = {"reason": reason, "message": f'Back-off pulling image "{image}"' if reason ==
                       "ImagePullBackOff" else detail}
            phase, restarts, last = "Pending", 0, {}
            self._event(pod, "Pulling", f'Pulling image "{image}"', field_path=fp)
            self._event(pod, "Failed", f'Failed to pull image "{image}": {detail}', "Warning", field_path=fp)
            self._event(pod, "Failed", "Error: ErrImagePull", "Warning", field_path=fp)
            if reason == "ImagePullBackOff":
                self._event(pod, "BackOff", f'Back-off pulling image "{image}"', field_path=fp)
                self._event(pod, "Failed", "Error: ImagePullBackOff", "Warning", field_path=fp)
        elif reason == "CrashLoopBackOff":
            waiting = {"reason": reason, "message": f"back-off 10s restarting failed container={cname} pod={pname}_"
                       f"{ns}({pod['metadata']['uid']})"}
            phase, restarts = "Running", 3
            last = {"terminated": {"exitCode": 1, "reason": "Error", "startedAt": ts, "finishedAt": ts,
                                   **({"message": message} if message else {})}}
            self._event(pod, "Pulled", f'Container image "{image}" already present on machine', field_path=fp)
            self._event(pod, "Created", f"Created container {cname}", field_path=fp)
            self._event(pod, "Started", f"Started container {cname}", field_path=fp)
            self._event(pod, "BackOff", f"Back-off restarting failed container {cname} in pod {pname}_{ns}("
                        f"{pod['metadata']['uid']})", "Warning", field_path=fp)
        else:
            waiting = {"reason": reason, "message": message or reason}
            phase, restarts, last = "Pending", 0, {}
            self._event(pod, "Failed", f"Error: {message or reason}", "Warning", field_path=fp)

        def mut(p):
            p["spec"]["nodeName"] = "node-1"
            p["status"] = {
                "phase": phase, "hostIP": "192.168.0.10", "startTime": ts, "qosClass": "BestEffort",
                "conditions": [
                    {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": ts},
                    {"type": "Initialized", "status": "True", "lastProbeTime": None, "lastTransitionTime": ts},
                    {"type": "Ready", "status": "False", "lastProbeTime": None, "lastTransitionTime": ts,
                     "reason": "ContainersNotReady", "message": f"containers with unready status: [{cname}]"},
                    {"type": "ContainersReady", "status": "False", "lastProbeTime": None, "lastTransitionTime": ts,
                     "reason": "ContainersNotReady", "message": f"containers with unready status: [{cname}]"}],
                "containerStatuses": [{"name": c.get("name"), "image": c.get("image"), "imageID": "", "ready": False,
                                       "started": False, "restartCount": restarts if c.get("name") == cname else 0,
                                       "state": {"waiting": waiting} if c.get("name") == cname else
                                       {"waiting": {"reason": "PodInitializing"}},
                                       "lastState": last if c.get("name") == cname else {}}
                                      for c in p["spec"].get("containers") or []]}
        self._update(("", "pods"), key, mut)

    def _deployment_status(self, dkey, dep, new, owned, counts, desired, prog, now):
        md, spec = dep["metadata"], dep.get("spec") or {}
        total = sum(c[0] for c in counts.values())
        ready = sum(c[1] for c in counts.values())
        updated = counts.get(new[0], (0, 0))[0] if new else 0
        new_ready = counts.get(new[0], (0, 0))[1] if new else 0
        mu = ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%")
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            mu = 0
        max_unavail = int(desired * int(mu[:-1]) / 100) if isinstance(mu, str) and mu.endswith("%") else int(mu or 0)
        old = self._objs("apps", "deployments").get(dkey)
        if old is None:
            return
        conds = {c["type"]: c for c in (old.get("status") or {}).get("conditions") or []}
        ts = now_iso()

        def cond(ctype, status, reason, message):
            prev = conds.get(ctype)
            c = {"type": ctype, "status": status, "lastUpdateTime": ts, "lastTransitionTime": ts, "reason": reason,
                 "message": message}
            if prev and prev["status"] == status:
                c["lastTransitionTime"] = prev["lastTransitionTime"]
                if prev["reason"] == reason and prev["message"] == message:
                    c["lastUpdateTime"] = prev["lastUpdateTime"]
            return c

        available = ready >= desired - max_unavail
        c_avail = cond("Available", "True" if available else "False",
                       "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                       "Deployment has minimum availability." if available else
                       "Deployment does not have minimum availability.")
        rs_name = new[0][1] if new else ""
        complete = new is not None and updated == desired and new_ready == desired and total == desired
        deadline = min(self.progress_deadline, spec.get("progressDeadlineSeconds", 600))
        if complete:
            c_prog = cond("Progressing", "True", "NewReplicaSetAvailable",
                          f'ReplicaSet "{rs_name}" has successfully progressed.')
        elif spec.get("paused"):
            c_prog = cond("Progressing", "Unknown", "DeploymentPaused", "Deployment is paused")
        elif now - prog[1] >= deadline:
            c_prog = cond("Progressing", "False", "ProgressDeadlineExceeded",
                          f'ReplicaSet "{rs_name}" has timed out progressing.')
        elif prog[2] == "created" and updated < desired:
            c_prog = cond("Progressing", "True", "NewReplicaSetCreated", f'Created new replica set "{rs_name}"')
        else:
            c_prog = cond("Progressing", "True", "ReplicaSetUpdated", f'ReplicaSet "{rs_name}" is progressing.')
        status = {"observedGeneration": md.get("generation", 1), "replicas": total, "updatedReplicas": updated,
                  "readyReplicas": ready, "availableReplicas": ready, "unavailableReplicas": max(desired - ready, 0),
                  "conditions": [c_avail, c_prog]}
        status = {k: v for k, v in status.items() if v or k in ("observedGeneration", "conditions")}
        self._update(("apps", "deployments"), dkey, lambda x: x.__setitem__("status", status))

    def _apirules(self):
        for key, rule in list(self._objs(KYMA, "apirules").items()):
            md = rule["metadata"]
            if md.get("deletionTimestamp"):
                continue
            fail = self._apirule_failures.get((key[0], key[1]), self._apirule_failures.get((None, key[1])))
            since = self._changed.get((KYMA, "apirules") + key)
            gen = md.get("generation", 1)
            if since is None or since[0] != gen:
                self._changed[(KYMA, "apirules") + key] = since = (gen, time.monotonic())
            if time.monotonic() - since[1] < self.apirule_delay:
                continue
            v2 = rule["apiVersion"].endswith("/v2")
            if v2:
                status = {"state": "Error", "description": fail} if fail else {"state": "Ready"}
            else:
                status = {"APIRuleStatus": {"code": "ERROR", "desc": fail} if fail else {"code": "OK"},
                          "accessRuleStatus": {"code": "OK"}, "virtualServiceStatus": {"code": "OK"}}
            old = {k: v for k, v in (rule.get("status") or {}).items() if k != "lastProcessedTime"}
            if old != status or "lastProcessedTime" not in (rule.get("status") or {}):
                status["lastProcessedTime"] = now_iso()
                self._update((KYMA, "apirules"), key, lambda x: x.__setitem__("status", status))

    def _load_balancers(self):
        for store, pred in ((("networking.k8s.io", "ingresses"), lambda o: True),
                            (("", "services"), lambda o: (o.get("spec") or {}).get("type") == "LoadBalancer")):
            for key, o in list(self._objects[store].items()):
                if not pred(o) or o["metadata"].get("deletionTimestamp"):
                    continue
                since = self._changed.setdefault(store + key + (o["metadata"]["uid"],), time.monotonic())
                if time.monotonic() - since < self.lb_delay:
                    continue
                want = {"ingress": [{"ip": "127.0.0.1"}]}
                if ((o.get("status") or {}).get("loadBalancer")) != want:
                    self._update(store, key, lambda x: x.setdefault("status", {}).__setitem__("loadBalancer", want))

    # ---------------------------------------------------------------- gateway
    def _gateway(self, h):
        parsed = urllib.parse.urlsplit(h.path)
        host = (h.headers.get("Host") or "").split(":")[0].lower().rstrip(".")
        entry = {"host": host, "method": h.command, "path": parsed.path, "route": None, "service": None,
                 "backend": None, "status": None, "time": time.time()}
        with self._lock:   # logged before the reply goes out, so a client that got its answer sees it
            self.gateway_log.append(entry)
        try:
            body = h.read_body()
            if self.gateway_max_body is not None and len(body) > self.gateway_max_body:
                entry["status"] = 413
                return h.send_bytes(413, b"payload too large", "text/plain")
            with self._lock:
                route = self._route(host, parsed.path, h.headers, h.command)
                if route is None:
                    entry["status"] = 404
                    return h.send_bytes(404, b"", "text/plain")
                if len(route) == 3:  # a VirtualService's directResponse
                    entry["route"], entry["status"] = route[0], route[2][0]
                    return h.send_bytes(route[2][0], route[2][1], "text/plain")
                entry["route"], (ns, svc) = route[0], route[1]
                entry["service"] = f"{ns}/{svc}"
                backend = self._service_backend(ns, svc)
            if backend is None:
                entry["status"] = 503
                return h.send_bytes(503, b"no healthy upstream", "text/plain")
            entry["backend"] = backend
            code, headers, data = self._forward(backend, h, body, host)
            entry["status"] = code
            h.send_response(code)
            for k, v in headers:
                if k.lower() not in HOP_BY_HOP:
                    h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            if h.command != "HEAD":
                h.wfile.write(data)
        except (ConnectionError, OSError) as e:
            if entry["backend"] and entry["status"] is None:
                entry["status"] = 502
                try:
                    h.send_bytes(502, f"upstream connect error: {e}".encode(), "text/plain")
                except OSError:
                    h.close_connection = True
            else:
                h.close_connection = True

    def _forward(self, backend, h, body, host):
        u = urllib.parse.urlsplit(backend)
        conn_cls = http.client.HTTPSConnection if u.scheme == "https" else http.client.HTTPConnection
        conn = conn_cls(u.hostname, u.port, timeout=self.gateway_timeout)
        try:
            headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
            headers["X-Forwarded-Host"] = host
            headers["X-Forwarded-Proto"] = "https"
            base = u.path.rstrip("/")
            conn.request(h.command, base + h.path, body=body if body or h.command in ("POST", "PUT", "PATCH") else None,
                         headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheaders(), resp.read()
        finally:
            conn.close()

    def _short_host(self, host):
        return host if "." in host else f"{host}.{self.cluster_domain}"

    def _route(self, host, path, headers, method="GET"):
        """-> (route description, (namespace, service)) or None; the caller holds the lock."""
        for key, vs in sorted(self._objs(ISTIO, "virtualservices").items()):
            spec = vs.get("spec") or {}
            hosts = [self._short_host(x.lower()) if x != "*" else "*" for x in spec.get("hosts") or []]
            if host not in hosts and "*" not in hosts:
                continue
            for http_route in spec.get("http") or []:
                if not self._vs_match(http_route.get("match"), path, headers):
                    continue
                if http_route.get("directResponse"):
                    direct = http_route["directResponse"]
                    return (f"virtualservice {key[0]}/{key[1]}", None,
                            (direct.get("status", 200), ((direct.get("body") or {}).get("string") or "").encode()))
                routes = http_route.get("route") or []
                if not routes:
                    continue
                weights = [r.get("weight", 100 if len(routes) == 1 else 0) for r in routes]
                pick = routes[0] if sum(weights) <= 0 else self.rng.choices(routes, weights)[0]
                dest = (pick.get("destination") or {}).get("host", "")
                return (f"virtualservice {key[0]}/{key[1]}", self._dest(dest, key[0]))
        for key, rule in sorted(self._objs(KYMA, "apirules").items()):
            if not apirule_ready(rule) or rule["metadata"].get("deletionTimestamp"):
                continue
            spec = rule.get("spec") or {}
            hosts = spec.get("hosts") or ([spec["host"]] if spec.get("host") else [])
            if host not in [self._short_host(x.lower()) for x in hosts]:
                continue
            for r in spec.get("rules") or []:
                if not self._rule_path(r.get("path", "/*"), path):
                    continue
                if r.get("methods") and method.upper() not in [m.upper() for m in r["methods"]]:
                    continue
                svc = r.get("service") or spec.get("service") or {}
                return (f"apirule {key[0]}/{key[1]}", (svc.get("namespace") or key[0], svc.get("name")))
            return None
        candidates = []
        for key, ing in sorted(self._objs("networking.k8s.io", "ingresses").items()):
            for rule in (ing.get("spec") or {}).get("rules") or []:
                rhost = (rule.get("host") or "").lower()
                if rhost and not (rhost == host or (rhost.startswith("*.") and host.endswith(rhost[1:]) and
                                                    host.count(".") == rhost.count("."))):
                    continue
                for p in (rule.get("http") or {}).get("paths") or []:
                    ppath, ptype = p.get("path", "/"), p.get("pathType", "Prefix")
                    if ptype == "Exact":
                        ok = path == ppath
                    else:
                        ok = ppath in ("", "/") or path == ppath.rstrip("/") or path.startswith(ppath.rstrip("/") + "/")
                    if ok:
                        svc = ((p.get("backend") or {}).get("service") or {}).get("name")
                        candidates.append((len(ppath), key, ing, svc))
        if not candidates:
            default = [(k, i) for k, i in sorted(self._objs("networking.k8s.io", "ingresses").items())
                       if (i.get("spec") or {}).get("defaultBackend")]
            if default:
                k, i = default[0]
                return (f"ingress {k[0]}/{k[1]}", (k[0], i["spec"]["defaultBackend"]["service"]["name"]))
            return None
        best = max(c[0] for c in candidates)
        candidates = [c for c in candidates if c[0] == best]
        ann = lambda ing: (ing["metadata"].get("annotations") or {})
        primary = [c for c in candidates if ann(c[2]).get("nginx.ingress.kubernetes.io/canary") != "true"]
        canaries = [c for c in candidates if ann(c[2]).get("nginx.ingress.kubernetes.io/canary") == "true"]
        chosen = primary[0] if primary else None
        if canaries:
            c = canaries[0]
            a = ann(c[2])
            hdr = a.get("nginx.ingress.kubernetes.io/canary-by-header")
            use = None
            if hdr and headers is not None and headers.get(hdr) is not None:
                want = a.get("nginx.ingress.kubernetes.io/canary-by-header-value")
                val = headers.get(hdr)
                use = (val == want) if want else (True if val == "always" else False if val == "never" else None)
            if use is None:
                weight = float(a.get("nginx.ingress.kubernetes.io/canary-weight", "0") or 0)
                total = float(a.get("nginx.ingress.kubernetes.io/canary-weight-total", "100") or 100)
                use = self.rng.random() * total < weight
            if use or chosen is None:
                chosen = c
        return (f"ingress {chosen[1][0]}/{chosen[1][1]}", (chosen[1][0], chosen[3]))

    def _vs_match(self, matches, path, headers):
        if not matches:
            return True
        for m in matches:
            uri = m.get("uri") or {}
            if "exact" in uri and path != uri["exact"]:
                continue
            if "prefix" in uri and not path.startswith(uri["prefix"]):
                continue
            if "regex" in uri and not re.fullmatch(uri["regex"], path):
                continue
            ok = True
            for name, cond in (m.get("headers") or {}).items():
                val = headers.get(name) if headers is not None else None
                if val is None or ("exact" in cond and val != cond["exact"]) or (
                        "prefix" in cond and not val.startswith(cond["prefix"])):
                    ok = False
            if ok:
                return True
        return False

    @staticmethod
    def _rule_path(pattern, path):
        if pattern in ("/*", "/{**}", "/.*", "/.+", "/"):
            return True
        if pattern.endswith("/*") or pattern.endswith("/{**}"):
            return path.startswith(pattern.rsplit("/", 1)[0] + "/")
        if "{*}" in pattern or "{**}" in pattern:
            rx = re.escape(pattern).replace(re.escape("{**}"), ".*").replace(re.escape("{*}"), "[^/]+")
            return re.fullmatch(rx, path) is not None
        return path == pattern

    def _dest(self, dest, default_ns):
        parts = dest.lower().split(".")
        if len(parts) >= 2 and parts[1] != "" and not (len(parts) > 2 and parts[2] != "svc"):
            return parts[1], parts[0]
        return default_ns, parts[0]

    def _service_backend(self, ns, name):
        svc = self._objs("", "services").get((ns, name))
        if svc is None:
            return None
        sel = (svc.get("spec") or {}).get("selector")
        if not sel:
            return None
        backends = []
        for (pns, _), pod in sorted(self._objs("", "pods").items()):
            if pns != ns or pod["metadata"].get("deletionTimestamp"):
                continue
            labels = pod["metadata"].get("labels") or {}
            if any(labels.get(k) != v for k, v in sel.items()):
                continue
            if not any(c.get("type") == "Ready" and c.get("status") == "True"
                       for c in (pod.get("status") or {}).get("conditions") or []):
                continue
            for ref in pod["metadata"].get("ownerReferences") or []:
                url = self._backends.get(ref.get("uid"))
                if isinstance(url, str):
                    backends.append(url)
        if not backends:
            return None
        return self.rng.choice(backends)


# ------------------------------------------------------------------------------ a model server stand-in
class EchoBackend:
    """A tiny HTTP backend for on_pod_ready: every request answers 200 JSON
    {"backend": name, "method", "path", "headers", "body"}; `requests` records them.
    GET /ping answers 200 too (MLflow's scoring server health route)."""

    def __init__(self, name="backend", host="127.0.0.1"):
        self.name, self.requests = name, []
        owner = self

        class Handler(_Handler):
            server_version = "echo-backend"

            def do_GET(self):
                body = self.read_body()
                rec = {"backend": owner.name, "method": self.command, "path": self.path,
                       "headers": dict(self.headers.items()), "body": body.decode("utf-8", "replace")}
                owner.requests.append(rec)
                self.send_json(200, rec)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        self._server = _QuietServer((host, 0), Handler, self)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"echo-{name}", daemon=True)

    @property
    def url(self):
        return "http://%s:%d" % self._server.server_address[:2]

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.close_connections()
            self._server.server_close()
            self._thread.join(10)


# ------------------------------------------------------------------------------ standalone
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--gateway-port", type=int, default=0)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--token", default="test-token")
    parser.add_argument("--tls", action="store_true")
    parser.add_argument("--cluster-domain", default="kyma.example.com")
    args = parser.parse_args(argv)
    server = KubeApiServer(args.token, port=args.port, gateway_port=args.gateway_port, tls=args.tls,
                           cluster_domain=args.cluster_domain).start()
    server.write_kubeconfig(args.kubeconfig)
    print(f"kube-apiserver {server.url} gateway {server.gateway_url} kubeconfig {args.kubeconfig}", flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *a: done.set())
    signal.signal(signal.SIGINT, lambda *a: done.set())
    while not done.wait(0.5):
        pass
    server.stop()


if __name__ == "__main__":
    main()
