"""Field errors as Kubernetes prints them, and the one Invalid error that carries them.

Each helper returns one error line, ``<path>: <type>[: <value>][: <detail>]``:

    spec.containers[0].image: Required value
    spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "Never", "OnFailure"
    spec.replicas: Invalid value: -1: must be greater than or equal to 0

Validators append such lines to a plain list; nothing is formatted unless something is wrong,
so the happy path costs one empty list per object.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from shoal.control.api.errors import Invalid

MAX_ERRORS_SHOWN = 10
_MAX_VALUE_SHOWN = 128


def quote(value: object) -> str:
    """A value as Go's %v/%q would show it in a field error: strings quoted, numbers bare,
    maps and lists as JSON; long values cut short."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        shown = value if len(value) <= _MAX_VALUE_SHOWN else value[:_MAX_VALUE_SHOWN] + "..."
        return json.dumps(shown, ensure_ascii=False)
    if isinstance(value, bytes):
        return quote(value.decode("utf-8", "replace"))
    try:
        if hasattr(value, "items"):
            value = dict(value.items())  # type: ignore[union-attr]
        elif isinstance(value, Iterable):
            value = list(value)
        text = json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
    except (TypeError, ValueError):
        text = str(value)
    return text if len(text) <= _MAX_VALUE_SHOWN else text[:_MAX_VALUE_SHOWN] + "..."


def required(path: str, detail: str = "") -> str:
    return f"{path}: Required value: {detail}" if detail else f"{path}: Required value"


def invalid(path: str, value: object, detail: str) -> str:
    return f"{path}: Invalid value: {quote(value)}: {detail}"


def unsupported(path: str, value: object, supported: Iterable[str]) -> str:
    listed = ", ".join(f'"{v}"' for v in supported)
    return f"{path}: Unsupported value: {quote(value)}: supported values: {listed}"


def duplicate(path: str, value: object) -> str:
    return f"{path}: Duplicate value: {quote(value)}"


def not_found(path: str, value: object) -> str:
    return f"{path}: Not found: {quote(value)}"


def forbidden(path: str, detail: str) -> str:
    return f"{path}: Forbidden: {detail}"


def too_long(path: str, max_length: int) -> str:
    return f"{path}: Too long: may not be more than {max_length} bytes"


def too_many(path: str, actual: int, max_items: int) -> str:
    return f"{path}: Too many: {actual}: must have at most {max_items} items"


def immutable(path: str, value: object) -> str:
    return invalid(path, value, "field is immutable")


def object_invalid(kind: str, name: str, errors: list[str]) -> Invalid:
    """The Invalid error for an object: 'Pod "web" is invalid: <error>' with one error, the
    errors in brackets joined by ", " with several (as Kubernetes' aggregate), at most
    MAX_ERRORS_SHOWN of them."""
    shown = errors[:MAX_ERRORS_SHOWN]
    if len(errors) > MAX_ERRORS_SHOWN:
        shown.append(f"and {len(errors) - MAX_ERRORS_SHOWN} more errors")
    body = shown[0] if len(shown) == 1 else "[" + ", ".join(shown) + "]"
    if len(name) > _MAX_VALUE_SHOWN:
        name = name[:_MAX_VALUE_SHOWN] + "..."
    return Invalid(f"{kind} {json.dumps(name, ensure_ascii=False)} is invalid: {body}")
