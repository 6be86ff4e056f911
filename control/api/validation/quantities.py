"""Quantities for admission: parsed once per distinct string, compared as integers.

A quantity's value is exact to the nano unit (shoal.proto.quantity rounds up to it), so
``nano(text)`` (the value times 10^9, an int) compares and sums exactly and fast.
"""

from __future__ import annotations

import re

from shoal.control.api.validation.fielderrors import invalid
from shoal.proto.quantity import MAX_QUANTITY_LENGTH, QuantityError, parse_quantity

QUANTITY_MSG = "must be a valid quantity (e.g. 500m, 1Gi)"
_NANO = 10**9
_cache: dict[str, int | None] = {}
_CACHE_MAX = 1 << 14

# The forms nearly every manifest writes ("250m", "1.5", "512Mi"), parsed with integers only;
# everything else (signs, exponents, ".5") goes through shoal.proto.quantity.
_plain = re.compile(r"([0-9]+)(?:\.([0-9]+))?([numkMGTPE]|[KMGTPE]i)?").fullmatch
_DECIMAL_EXPONENT = {None: 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_BINARY_POWER = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


def _plain_nano(match) -> int:
    """Nano units of a plain quantity, rounded up as shoal.proto.quantity rounds."""
    whole, fraction, suffix = match.groups()
    digits = int(whole + fraction) if fraction else int(whole)
    scale = len(fraction) if fraction else 0
    power = _BINARY_POWER.get(suffix)
    if power is not None:
        numerator, denominator = digits << power, 10**scale
        return -(-numerator * _NANO // denominator)
    exponent = _DECIMAL_EXPONENT[suffix] + 9 - scale
    if exponent >= 0:
        return digits * 10**exponent
    return -(-digits // 10**-exponent)


def nano(text: str) -> int | None:
    """The value of ``text`` in nano units, or None if it is not a valid quantity."""
    try:
        return _cache[text]
    except KeyError:
        pass
    if len(text) > MAX_QUANTITY_LENGTH:
        return None
    match = _plain(text)
    if match is not None:
        value: int | None = _plain_nano(match)
    else:
        try:
            value = int(parse_quantity(text) * _NANO)
        except QuantityError:
            value = None
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()
    _cache[text] = value
    return value


def check_quantity(text: str, path: str, errs: list[str], *, allow_negative: bool = False) -> int | None:
    """Appends an error for an invalid (or negative) quantity; returns its nano value."""
    value = nano(text)
    if value is None:
        errs.append(invalid(path, text, QUANTITY_MSG))
    elif value < 0 and not allow_negative:
        errs.append(invalid(path, text, "must be greater than or equal to 0"))
    return value


def check_quantity_map(quantities, path: str, errs: list[str]) -> None:
    """Every value of a map of quantities (by resource name) valid and non-negative."""
    for key in quantities:
        text = quantities[key]
        value = _cache.get(text)
        if value is None or value < 0:
            check_quantity(text, f"{path}.{key}", errs)


# -- quantities anywhere in a message (status fields), found through the (quantity) option ------

_plans: dict[str, tuple] = {}


def _plan(descriptor) -> tuple:
    """The fields of ``descriptor`` that hold quantities, directly or inside sub-messages:
    (kind, attribute, JSON name, sub-plan) with kind "map", "scalar", "message" or "repeated".
    Built once per message type."""
    plan = _plans.get(descriptor.full_name)
    if plan is not None:
        return plan
    _plans[descriptor.full_name] = ()  # a recursive type contributes nothing while it is built
    from shoal.v1 import meta_pb2

    steps = []
    for field in descriptor.fields:
        marked = field.has_options and field.GetOptions().Extensions[meta_pb2.quantity]
        sub = field.message_type
        if sub is not None and sub.GetOptions().map_entry:
            if marked:
                steps.append(("map", field.name, field.json_name, ()))
            continue
        if marked:
            steps.append(("scalar", field.name, field.json_name, ()))
        elif sub is not None and sub.full_name.startswith("shoal."):
            sub_plan = _plan(sub)
            if sub_plan:
                kind = "repeated" if field.is_repeated else "message"
                steps.append((kind, field.name, field.json_name, sub_plan))
    plan = tuple(steps)
    _plans[descriptor.full_name] = plan
    return plan


def check_quantities(msg, path: str, errs: list[str]) -> None:
    """Every quantity-marked field under ``msg`` valid (and non-negative)."""
    _walk(msg, _plan(msg.DESCRIPTOR), path, errs)


def _walk(msg, plan: tuple, path: str, errs: list[str]) -> None:
    for kind, name, json_name, sub_plan in plan:
        value = getattr(msg, name)
        if kind == "map":
            if value:
                check_quantity_map(value, f"{path}.{json_name}", errs)
        elif kind == "scalar":
            if value:
                check_quantity(value, f"{path}.{json_name}", errs)
        elif kind == "message":
            if msg.HasField(name):
                _walk(value, sub_plan, f"{path}.{json_name}", errs)
        else:
            for i, item in enumerate(value):
                _walk(item, sub_plan, f"{path}.{json_name}[{i}]", errs)
