"""What the service's OpenAPI description promises about an answer: whether its status is
declared for the operation, and whether its body has the declared shape."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

TYPES = {"object": dict, "array": list, "string": str, "integer": int, "boolean": bool,
         "null": type(None), "number": (int, float)}


def operation(schema: dict, method: str, url: str) -> dict | None:
    """The operation of ``schema`` that answers ``method url``, or ``None``."""
    path = urlsplit(url).path
    for template, ops in schema["paths"].items():
        pattern = re.sub(r"\\{[^}]+\\}$", ".+", re.escape(template))  # last id may hold "/"
        pattern = re.sub(r"\\{[^}]+\\}", "[^/]+", pattern)
        if re.fullmatch(pattern, path) and method.lower() in ops:
            return ops[method.lower()]
    return None


def problems(value, spec: dict, schema: dict, where: str = "body") -> list[str]:
    """How ``value`` departs from the JSON schema ``spec`` (``$ref``, ``anyOf``, ``type``,
    ``required``, ``properties``, ``items``: what the description's error bodies use)."""
    if "$ref" in spec:
        name = spec["$ref"].rsplit("/", 1)[1]
        return problems(value, schema["components"]["schemas"][name], schema, where)
    if "anyOf" in spec:
        found = [problems(value, s, schema, where) for s in spec["anyOf"]]
        return [] if any(not f for f in found) else [p for f in found for p in f]
    out = []
    kinds = spec.get("type")
    if kinds:
        kinds = [kinds] if isinstance(kinds, str) else kinds
        if not isinstance(value, tuple(TYPES[k] for k in kinds)) or (
                isinstance(value, bool) and "boolean" not in kinds):
            return [f"{where}: {type(value).__name__}, not {kinds}"]
    if isinstance(value, dict):
        out += [f"{where}.{k}: missing" for k in spec.get("required", ()) if k not in value]
        for key, sub in spec.get("properties", {}).items():
            if key in value:
                out += problems(value[key], sub, schema, f"{where}.{key}")
    if isinstance(value, list) and "items" in spec:
        for i, item in enumerate(value):
            out += problems(item, spec["items"], schema, f"{where}[{i}]")
    return out


def undeclared(schema: dict, method: str, url: str, status: int, body) -> list[str]:
    """Why an answer does not match the description (empty when it does, or when no
    operation answers the URL: the router's own 404)."""
    op = operation(schema, method, url)
    if op is None:
        return []
    declared = op["responses"].get(str(status))
    if declared is None:
        return [f"{status} is not declared for {method} {urlsplit(url).path}"]
    spec = declared.get("content", {}).get("application/json", {}).get("schema")
    return problems(body, spec, schema) if spec and status >= 400 else []
