"""Kubernetes resource quantities ("500m", "1Gi", "1e3"), parsed exactly.

A quantity is a signed decimal number with an optional suffix, as Kubernetes' resource.Quantity:

    decimal SI   n u m "" k M G T P E       (10^-9 .. 10^18)
    binary SI    Ki Mi Gi Ti Pi Ei          (2^10 .. 2^60)
    exponent     e<int> or E<int>           ("1e3", "5E-3")

Values are kept as exact fractions, never floats. As in Kubernetes, a parsed value is rounded up
(away from zero) to a whole number of nano units, and the integer views round up as well:
``milli_value("0.1m") == 1``, ``value("1500m") == 2``. The scheduler works on integers:
cpu in millicores, everything else in base units (bytes, pods, devices).

Where Kubernetes' parser is looser than its grammar, this one follows the grammar: it needs at
least one digit ("Gi", "-" and "." are errors here, zero in Kubernetes), and it rejects exponents
beyond +-100 and strings longer than 64 characters.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from fractions import Fraction
from typing import Literal, NamedTuple

__all__ = [
    "MAX_QUANTITY_LENGTH",
    "Quantity",
    "QuantityError",
    "QuantityFormat",
    "canonical_quantity",
    "format_quantity",
    "milli_value",
    "parse_quantity",
    "resource_list_to_ints",
    "value",
]

MAX_QUANTITY_LENGTH = 64
MAX_EXPONENT = 100
INT64_MAX = 2**63 - 1
INT64_MIN = -(2**63)

QuantityFormat = Literal["DecimalSI", "BinarySI", "DecimalExponent"]

_DECIMAL_SUFFIXES = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}
_DECIMAL_SUFFIX_BY_EXPONENT = {exp: suffix for suffix, exp in _DECIMAL_SUFFIXES.items()}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_BINARY_SUFFIX_BY_POWER = {power // 10: suffix for suffix, power in _BINARY_SUFFIXES.items()}
_NANO = 10**9

# [0-9] rather than \d: \d also matches non-ASCII digits, which Kubernetes rejects.
# The alternation tries binary and SI letters first; fullmatch backtracks to the exponent form
# when digits follow an "E" ("1E3"), so "1E" stays exa.
_QUANTITY_RE = re.compile(
    r"(?P<sign>[+-]?)(?P<whole>[0-9]*)(?:\.(?P<fraction>[0-9]*))?"
    r"(?P<suffix>[KMGTPE]i|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)

_GRAMMAR = (
    "expected a number with an optional suffix: "
    "n u m k M G T P E, Ki Mi Gi Ti Pi Ei, or e<exponent>"
)


class QuantityError(ValueError):
    """A string that is not a valid quantity. ``text`` is the offending input, ``resource`` the
    resource name it was given for (when known), ``reason`` what is wrong with it."""

    def __init__(self, text: object, reason: str, resource: str | None = None) -> None:
        self.text = text
        self.reason = reason
        self.resource = resource
        where = f" for {resource!r}" if resource is not None else ""
        super().__init__(f"invalid quantity {_shown(text)}{where}: {reason}")


class Quantity(NamedTuple):
    """A parsed quantity: its exact value and the notation it was written in (which decides its
    canonical spelling, as in Kubernetes)."""

    value: Fraction
    format: QuantityFormat

    @classmethod
    def parse(cls, text: str) -> Quantity:
        """Parse ``text`` or raise QuantityError; the value is rounded up to whole nano units."""
        return _parse(text)

    def canonical(self) -> str:
        """The spelling Kubernetes would print for this quantity ("1.5" -> "1500m")."""
        return format_quantity(self.value, self.format)


def parse_quantity(text: str) -> Fraction:
    """The exact value of ``text`` (rounded up to whole nano units), or QuantityError."""
    return _parse(text).value


def milli_value(text: str) -> int:
    """The value of ``text`` in thousandths, rounded up (away from zero): "500m" -> 500,
    "0.5" -> 500, "0.1m" -> 1. What Kubernetes' Quantity.MilliValue returns for cpu."""
    return _round_away_from_zero(_parse(text).value * 1000)


def value(text: str) -> int:
    """The value of ``text`` in base units, rounded up (away from zero): "1Gi" -> 1073741824,
    "1500m" -> 2. What Kubernetes' Quantity.Value returns."""
    return _round_away_from_zero(_parse(text).value)


def canonical_quantity(text: str) -> str:
    """The canonical spelling of ``text``, as Kubernetes prints it back: "1000" -> "1k",
    "1.5Gi" -> "1536Mi", "0.5" -> "500m", "1e3" -> "1e3"."""
    return _parse(text).canonical()


def format_quantity(amount: Fraction | int, fmt: QuantityFormat = "DecimalSI") -> str:
    """Spell ``amount`` the way Kubernetes prints a quantity of format ``fmt``.

    The amount is first rounded up to whole nano units. BinarySI falls back to DecimalSI for
    amounts below 1024 in magnitude or with a fractional part, so no precision is lost.
    """
    amount = _round_up_to_nano(Fraction(amount))
    if amount == 0:
        return "0"
    sign = "-" if amount < 0 else ""
    magnitude = abs(amount)
    if fmt == "BinarySI" and magnitude >= 1024 and magnitude.denominator == 1:
        mantissa, power = int(magnitude), 0
        while mantissa % 1024 == 0 and power < 6:
            mantissa //= 1024
            power += 1
        return f"{sign}{mantissa}{_BINARY_SUFFIX_BY_POWER.get(power, '')}"
    mantissa, exponent = _decimal_parts(magnitude)
    if fmt == "DecimalExponent":
        return f"{sign}{mantissa}" + (f"e{exponent}" if exponent else "")
    if exponent > 18:
        mantissa, exponent = mantissa * 10 ** (exponent - 18), 18
    return f"{sign}{mantissa}{_DECIMAL_SUFFIX_BY_EXPONENT[exponent]}"


def resource_list_to_ints(resources: Mapping[str, str]) -> dict[str, int]:
    """Integer amounts of a resource list: cpu in millicores, every other resource in base units
    (bytes for memory and storage, counts for pods and devices), each rounded up.

    Raises QuantityError naming the resource if a value is invalid or does not fit in int64.
    """
    amounts: dict[str, int] = {}
    for name, text in resources.items():
        try:
            amount = milli_value(text) if name == "cpu" else value(text)
        except QuantityError as exc:
            raise QuantityError(text, exc.reason, resource=name) from None
        if not INT64_MIN <= amount <= INT64_MAX:
            unit = "millicores" if name == "cpu" else "base units"
            raise QuantityError(text, f"does not fit in a 64-bit integer of {unit}", resource=name)
        amounts[name] = amount
    return amounts


def _parse(text: str) -> Quantity:
    if not isinstance(text, str):
        raise QuantityError(text, f"must be a string, not {type(text).__name__}")
    if not text:
        raise QuantityError(text, "empty string")
    if len(text) > MAX_QUANTITY_LENGTH:
        raise QuantityError(text, f"longer than {MAX_QUANTITY_LENGTH} characters")
    match = _QUANTITY_RE.fullmatch(text)
    if match is None:
        raise QuantityError(text, _GRAMMAR)
    whole, fraction = match["whole"], match["fraction"] or ""
    if not whole and not fraction:
        raise QuantityError(text, "no digits")
    suffix = match["suffix"] or ""
    number = Fraction(int(whole + fraction or "0"), 10 ** len(fraction))
    fmt: QuantityFormat
    if suffix in _BINARY_SUFFIXES:
        number *= 2 ** _BINARY_SUFFIXES[suffix]
        fmt = "BinarySI"
    elif suffix in _DECIMAL_SUFFIXES:
        number *= Fraction(10) ** _DECIMAL_SUFFIXES[suffix]
        fmt = "DecimalSI"
    else:
        exponent = int(suffix[1:])
        if abs(exponent) > MAX_EXPONENT:
            raise QuantityError(text, f"exponent beyond +-{MAX_EXPONENT}")
        number *= Fraction(10) ** exponent
        fmt = "DecimalExponent"
    if match["sign"] == "-":
        number = -number
    number = _round_up_to_nano(number)
    if fmt == "BinarySI" and abs(number) < 1:
        fmt = "DecimalSI"  # as Kubernetes: a binary suffix cannot spell a fraction
    return Quantity(number, fmt)


def _round_away_from_zero(amount: Fraction) -> int:
    magnitude = -(-abs(amount.numerator) // amount.denominator)
    return -magnitude if amount < 0 else magnitude


def _round_up_to_nano(amount: Fraction) -> Fraction:
    if (amount * _NANO).denominator == 1:
        return amount
    return Fraction(_round_away_from_zero(amount * _NANO), _NANO)


def _decimal_parts(magnitude: Fraction) -> tuple[int, int]:
    """(mantissa, exponent) with magnitude == mantissa * 10**exponent, exponent a multiple of 3
    and the mantissa as short as that allows (Kubernetes' AsCanonicalBytes)."""
    mantissa, exponent = int(magnitude * _NANO), -9
    while mantissa % 10 == 0:
        mantissa //= 10
        exponent += 1
    shift = exponent % 3
    return mantissa * 10**shift, exponent - shift


def _shown(text: object) -> str:
    if isinstance(text, str) and len(text) > MAX_QUANTITY_LENGTH:
        return repr(text[:MAX_QUANTITY_LENGTH]) + "..."
    return repr(text)
