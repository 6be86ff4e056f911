"""ConfigMap and Secret: keys that can be file names, a 1 MiB total, type-specific keys, and
the `immutable` promise."""

from __future__ import annotations

import json

from shoal.control.api.validation.fielderrors import (
    forbidden,
    immutable,
    invalid,
    required,
    too_long,
)
from shoal.control.api.validation.names import config_key_problem

MAX_DATA_SIZE = 1024 * 1024
IMMUTABLE_MSG = "field is immutable when `immutable` is set"

# Secret type -> keys of which at least one (or all, see _ALL_KEYS) must be present.
_REQUIRED_KEYS = {
    "kubernetes.io/dockercfg": (".dockercfg",),
    "kubernetes.io/dockerconfigjson": (".dockerconfigjson",),
    "kubernetes.io/basic-auth": ("username", "password"),
    "kubernetes.io/ssh-auth": ("ssh-privatekey",),
    "kubernetes.io/tls": ("tls.crt", "tls.key"),
}
_ALL_KEYS = {"kubernetes.io/tls"}
_JSON_KEYS = {"kubernetes.io/dockercfg": ".dockercfg", "kubernetes.io/dockerconfigjson": ".dockerconfigjson"}


def _check_keys(data, path: str, errs: list[str]) -> int:
    """Validates the keys of a data map; returns the total size of its values."""
    total = 0
    for key in data:
        problem = config_key_problem(key)
        if problem:
            errs.append(invalid(path, key, problem))
        total += len(data[key])
    return total


def _immutable_data(msg, old, fields: tuple[str, ...], errs: list[str]) -> None:
    if old is None or not (old.HasField("immutable") and old.immutable):
        return
    if not (msg.HasField("immutable") and msg.immutable):
        errs.append(forbidden("immutable", IMMUTABLE_MSG))
    for field, json_name in fields:
        if dict(getattr(msg, field)) != dict(getattr(old, field)):
            errs.append(forbidden(json_name, IMMUTABLE_MSG))


def validate_config_map(msg, old, errs: list[str]) -> None:
    total = 0
    if msg.data:
        total += _check_keys(msg.data, "data", errs)
    if msg.binary_data:
        total += _check_keys(msg.binary_data, "binaryData", errs)
        for key in msg.binary_data:
            if key in msg.data:
                errs.append(invalid(f"binaryData[{key}]", key, "duplicate of key present in data"))
    if total > MAX_DATA_SIZE:
        errs.append(too_long("data", MAX_DATA_SIZE))
    _immutable_data(msg, old, (("data", "data"), ("binary_data", "binaryData")), errs)


def validate_secret(msg, old, errs: list[str]) -> None:
    total = _check_keys(msg.data, "data", errs) if msg.data else 0
    if msg.string_data:
        total += sum(len(v.encode()) for k, v in msg.string_data.items() if k not in msg.data)
        _check_keys(msg.string_data, "stringData", errs)
    if total > MAX_DATA_SIZE:
        errs.append(too_long("data", MAX_DATA_SIZE))
    secret_type = msg.type
    keys = set(msg.data) | set(msg.string_data)
    if secret_type == "kubernetes.io/service-account-token":
        if not msg.metadata.annotations.get("kubernetes.io/service-account.name"):
            errs.append(required("metadata.annotations[kubernetes.io/service-account.name]"))
    elif secret_type in _REQUIRED_KEYS:
        wanted = _REQUIRED_KEYS[secret_type]
        missing = [k for k in wanted if k not in keys]
        if secret_type in _ALL_KEYS or len(missing) == len(wanted):
            for key in missing:
                errs.append(required(f"data[{key}]"))
        json_key = _JSON_KEYS.get(secret_type)
        if json_key and json_key in msg.data:
            try:
                json.loads(msg.data[json_key])
            except (ValueError, RecursionError):
                errs.append(invalid(f"data[{json_key}]", "<secret contents redacted>", "invalid JSON"))
    if old is not None and old.type != secret_type:
        errs.append(immutable("type", secret_type))
    _immutable_data(msg, old, (("data", "data"),), errs)
