"""Argument checking shared by the plugin factories: unknown fields are errors naming the field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..framework.interface import PluginArgsError


def check_fields(name: str, args: Mapping[str, Any] | None, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The args as a dict, after rejecting any field not in `allowed` (apiVersion/kind pass)."""
    if args is None:
        return {}
    if not isinstance(args, Mapping):
        raise PluginArgsError(f"{name} args: expected a mapping, got {type(args).__name__}")
    out = {}
    for key, value in args.items():
        if key in ("apiVersion", "kind"):
            continue
        if key not in allowed:
            raise PluginArgsError(f"{name} args: unknown field {key!r} (known: {', '.join(allowed)})")
        out[key] = value
    return out


def int_field(name: str, field: str, value: Any, low: int | None = None, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PluginArgsError(f"{name} args: {field}: expected an integer, got {value!r}")
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{low if low is not None else '-inf'}..{high if high is not None else 'inf'}"
        raise PluginArgsError(f"{name} args: {field}: {value} is outside {bounds}")
    return value
