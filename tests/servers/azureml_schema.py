"""Checks Azure ML request bodies against the stored 2025-12-01 REST spec (Swagger 2.0).

The spec files live unchanged under tests/data/azureml/2025-12-01/ in their upstream layout
(`specification/machinelearningservices/.../stable/2025-12-01/{mfe,machineLearningServices,registries}.json`
and `specification/common-types/resource-management/v3/{types,managedidentity,privatelinks}.json`), so the
relative `$ref`s resolve as they are. The upstream examples sit next to mfe.json (EXAMPLES).

    check("OnlineEndpointTrackedResource", body) -> ["properties.authMode: 'Token' is not one of [...]"]

Swagger 2.0 is close to JSON Schema draft 4; the differences handled here (on an in-memory copy):
  * `discriminator` + `x-ms-discriminator-value` + `allOf`: a schema that names a discriminator
    property dispatches on the body's value to the definition that inherits from it (value =
    x-ms-discriminator-value, else the definition name); unknown values are left to the enum.
  * `additionalProperties: false` covers the properties inherited through `allOf` too.
  * `x-nullable: true` accepts null.
  * `readOnly` properties are ignored (requests may carry them; servers drop them) and never required.
  * `format: duration` must be an ISO-8601 duration (PT10S, P1DT2H, PT0.5S); other formats unchecked.
  * `x-ms-enum` enums are kept strict even when modelAsString is true.
"""

import functools
import json
import os
import re

import jsonschema
import referencing
import referencing.jsonschema

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "azureml", "2025-12-01")
SPEC_DIR = os.path.join(
    ROOT, "specification", "machinelearningservices", "resource-manager", "Microsoft.MachineLearningServices",
    "stable", "2025-12-01")
MFE = os.path.join(SPEC_DIR, "mfe.json")
EXAMPLES = os.path.join(SPEC_DIR, "examples")
COMMON = os.path.join(ROOT, "specification", "common-types", "resource-management", "v3")
# mfe.json and every file it refers to, directly or through another of these.
FILES = [MFE, os.path.join(SPEC_DIR, "machineLearningServices.json"), os.path.join(SPEC_DIR, "registries.json")] + [
    os.path.join(COMMON, name) for name in ("types.json", "managedidentity.json", "privatelinks.json")]

_DURATION = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
_BASE = "__base"  # suffix of the copy of a definition that `allOf` inherits from: no closing, no dispatch


def _load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _uri(path):
    return "file://" + os.path.abspath(path)


def _target(uri, ref):
    """(file uri, definition name) that `ref`, written in the file `uri`, points at."""
    where, _, pointer = ref.partition("#")
    file = uri if not where else _uri(os.path.normpath(os.path.join(os.path.dirname(uri[7:]), where)))
    return file, pointer.rsplit("/", 1)[-1]


class _Spec:
    def __init__(self):
        self.raw = {_uri(p): _load(p) for p in FILES}
        self.subtypes = self._subtypes()  # (uri, base) -> {value: subtype name}
        self.docs = {uri: self._convert(uri, doc) for uri, doc in self.raw.items()}
        self.registry = referencing.Registry().with_resources(
            (uri, referencing.jsonschema.DRAFT4.create_resource(doc)) for uri, doc in self.docs.items())

    def _defs(self, uri):
        return self.raw[uri].get("definitions", {})

    def _parents(self, uri, name):
        return [_target(uri, s["$ref"]) for s in self._defs(uri).get(name, {}).get("allOf", []) if "$ref" in s]

    def _ancestors(self, uri, name):
        for parent in self._parents(uri, name):
            yield parent
            yield from self._ancestors(*parent)

    def _subtypes(self):
        found = {}
        for uri in self.raw:
            for name, schema in self._defs(uri).items():
                for base in self._ancestors(uri, name):
                    if "discriminator" in self._defs(base[0]).get(base[1], {}):
                        value = schema.get("x-ms-discriminator-value", name)
                        found.setdefault(base, {})[value] = (uri, name)
        return found

    def _allowed(self, uri, name):
        """Property names of a definition, inherited ones included."""
        names = set(self._defs(uri).get(name, {}).get("properties", {}))
        for parent in self._ancestors(uri, name):
            names |= set(self._defs(parent[0]).get(parent[1], {}).get("properties", {}))
        return sorted(names)

    def _convert(self, uri, doc):
        defs = {}
        for name, schema in doc.get("definitions", {}).items():
            node = self._node(uri, schema)
            closed = schema.get("additionalProperties") is False
            if closed:
                node.pop("additionalProperties")
                node["x-closed"] = self._allowed(uri, name)
            # Definitions inherit from a copy that leaves closing and dispatch to the most derived one.
            defs[name + _BASE] = {k: v for k, v in node.items() if k not in ("x-closed", "discriminator")}
            subs = self.subtypes.get((uri, name))
            if subs:
                node["x-dispatch"] = {"property": schema["discriminator"], "closed": node.pop("x-closed", None),
                                      "to": {v: self._ref(uri, t) for v, t in subs.items()}}
            defs[name] = node
        return {"definitions": defs}

    @staticmethod
    def _ref(uri, target):
        file, name = target
        return ("" if file == uri else file) + "#/definitions/" + name

    def _node(self, uri, schema, in_allof=False):
        if not isinstance(schema, dict):
            return schema
        if "$ref" in schema:
            ref = schema["$ref"]
            if in_allof:
                ref += _BASE
            return {"x-ref-or-null": ref} if schema.get("x-nullable") else {"$ref": ref}
        node = {}
        for key, value in schema.items():
            if key == "properties":
                node[key] = {p: ({} if s.get("readOnly") else self._node(uri, s)) for p, s in value.items()}
            elif key in ("items", "additionalProperties"):
                node[key] = self._node(uri, value)
            elif key == "allOf":
                node[key] = [self._node(uri, s, in_allof=True) for s in value]
            elif key in ("type", "enum", "required", "format", "discriminator", "minimum", "maximum", "minLength",
                         "maxLength", "pattern", "minItems", "maxItems", "uniqueItems"):
                node[key] = value
        read_only = [p for p, s in schema.get("properties", {}).items() if s.get("readOnly")]
        if "required" in node:
            node["required"] = [p for p in node["required"] if p not in read_only]
            if not node["required"]:
                del node["required"]
        if schema.get("x-nullable"):
            if "type" in node:
                node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = node["enum"] + [None]
        return node


def _ref_or_null(validator, ref, instance, schema):
    if instance is not None:
        yield from validator.descend(instance, {"$ref": ref})


def _dispatch(validator, spec, instance, schema):
    if not validator.is_type(instance, "object"):
        return
    target = spec["to"].get(instance.get(spec["property"]))
    if target:
        yield from validator.descend(instance, {"$ref": target})
    elif spec["closed"] is not None:
        yield from _closed(validator, spec["closed"], instance, schema)


def _closed(validator, allowed, instance, schema):
    if validator.is_type(instance, "object"):
        for name in instance:
            if name not in allowed:
                yield jsonschema.ValidationError("is not a known property", path=[name])


_Validator = jsonschema.validators.extend(
    jsonschema.Draft4Validator, {"x-ref-or-null": _ref_or_null, "x-dispatch": _dispatch, "x-closed": _closed})
_FORMATS = jsonschema.FormatChecker(formats=())
_FORMATS.checks("duration")(lambda value: not isinstance(value, str) or bool(_DURATION.match(value)))


@functools.lru_cache(maxsize=None)
def _spec():
    return _Spec()


def _where(error):
    path = ""
    for part in error.absolute_path:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _describe(error):
    if error.validator == "required":
        missing = error.message.split("'")[1]
        where = _where(error)
        return f"{where + '.' if where else ''}{missing}: is required"
    if error.validator == "format":
        return f"{_where(error) or '(body)'}: {error.instance!r} is not an ISO-8601 {error.validator_value}"
    return f"{_where(error) or '(body)'}: {error.message}"


def _leaves(errors):
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        else:
            yield error


def check(definition, body):
    """Readable errors of `body` against `definition` of mfe.json (an empty list when valid)."""
    spec = _spec()
    if definition not in spec.docs[_uri(MFE)]["definitions"]:
        raise KeyError(f"no definition {definition!r} in mfe.json")
    validator = _Validator({"$ref": _uri(MFE) + "#/definitions/" + definition}, registry=spec.registry,
                           format_checker=_FORMATS)
    errors = sorted(_leaves(validator.iter_errors(body)), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return list(dict.fromkeys(_describe(e) for e in errors))  # allOf may report an error twice


def request_definition(method, path_template):
    """Definition name of the body of `method path_template` in mfe.json, or None without a body."""
    raw = _spec().raw[_uri(MFE)]
    operation = raw["paths"][path_template][method.lower()]
    for parameter in operation.get("parameters", []):
        if parameter.get("$ref", "").startswith("#/parameters/"):
            parameter = raw["parameters"][parameter["$ref"].rsplit("/", 1)[-1]]
        if parameter.get("in") == "body":
            return parameter["schema"]["$ref"].rsplit("/", 1)[-1]
    return None


def operation_examples(operation_id):
    """{title: path of the example file} listed under x-ms-examples of an operation of mfe.json."""
    for methods in _spec().raw[_uri(MFE)]["paths"].values():
        for operation in methods.values():
            if isinstance(operation, dict) and operation.get("operationId") == operation_id:
                return {title: os.path.normpath(os.path.join(SPEC_DIR, ref["$ref"]))
                        for title, ref in operation.get("x-ms-examples", {}).items()}
    raise KeyError(operation_id)
