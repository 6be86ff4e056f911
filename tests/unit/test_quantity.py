"""Kubernetes resource quantities: exact parsing, rounding up, canonical spelling, rejection."""

from fractions import Fraction

import pytest

from shoal.proto.quantity import (
    MAX_QUANTITY_LENGTH,
    Quantity,
    QuantityError,
    canonical_quantity,
    format_quantity,
    milli_value,
    parse_quantity,
    resource_list_to_ints,
    value,
)

# (text, exact value, milli_value, value)
VALID = [
    ("500m", Fraction(1, 2), 500, 1),
    ("1Gi", Fraction(2**30), 2**30 * 1000, 1073741824),
    ("0.5", Fraction(1, 2), 500, 1),
    ("1e3", Fraction(1000), 1_000_000, 1000),
    ("1E3", Fraction(1000), 1_000_000, 1000),
    ("1e+3", Fraction(1000), 1_000_000, 1000),
    ("5e-3", Fraction(5, 1000), 5, 1),
    ("100Mi", Fraction(100 * 2**20), 100 * 2**20 * 1000, 104857600),
    ("1.5Gi", Fraction(3 * 2**29), 3 * 2**29 * 1000, 1610612736),
    ("0", Fraction(0), 0, 0),
    ("1", Fraction(1), 1000, 1),
    ("2", Fraction(2), 2000, 2),
    ("100m", Fraction(1, 10), 100, 1),
    ("1500m", Fraction(3, 2), 1500, 2),
    ("1n", Fraction(1, 10**9), 1, 1),
    ("250u", Fraction(250, 10**6), 1, 1),
    ("1k", Fraction(1000), 1_000_000, 1000),
    ("256M", Fraction(256 * 10**6), 256 * 10**9, 256 * 10**6),
    ("10G", Fraction(10**10), 10**13, 10**10),
    ("1T", Fraction(10**12), 10**15, 10**12),
    ("1P", Fraction(10**15), 10**18, 10**15),
    ("1E", Fraction(10**18), 10**21, 10**18),
    ("1Ki", Fraction(1024), 1_024_000, 1024),
    ("1Ti", Fraction(2**40), 2**40 * 1000, 2**40),
    ("1Pi", Fraction(2**50), 2**50 * 1000, 2**50),
    ("1Ei", Fraction(2**60), 2**60 * 1000, 2**60),
    ("0.5Ki", Fraction(512), 512_000, 512),
    (".5", Fraction(1, 2), 500, 1),
    ("1.", Fraction(1), 1000, 1),
    ("+1", Fraction(1), 1000, 1),
    ("-1", Fraction(-1), -1000, -1),
    ("007", Fraction(7), 7000, 7),
    ("0.15", Fraction(15, 100), 150, 1),
]


@pytest.mark.parametrize(("text", "exact", "milli", "units"), VALID, ids=[case[0] for case in VALID])
def test_valid_quantity_parses_exactly(text: str, exact: Fraction, milli: int, units: int) -> None:
    assert parse_quantity(text) == exact
    assert milli_value(text) == milli
    assert value(text) == units


ROUNDING = [
    # Integer views round up, never to nearest, as Kubernetes' Value and MilliValue.
    ("value of 1500m rounds up", value, "1500m", 2),
    ("value of 1001m rounds up", value, "1001m", 2),
    ("value of 1m rounds up to 1", value, "1m", 1),
    ("value of 0.1 rounds up to 1", value, "0.1", 1),
    ("value of 1.5Ki is exact", value, "1.5Ki", 1536),
    ("milli of 0.1m rounds up to 1", milli_value, "0.1m", 1),
    ("milli of 1u rounds up to 1", milli_value, "1u", 1),
    ("milli of 1.0001 rounds up", milli_value, "1.0001", 1001),
    ("milli of 1e-4 rounds up", milli_value, "1e-4", 1),
    # Negative values round away from zero (Kubernetes' int64 path).
    ("value of -1.5 rounds away from zero", value, "-1.5", -2),
    ("milli of -0.1m rounds away from zero", milli_value, "-0.1m", -1),
]


@pytest.mark.parametrize(("_id", "view", "text", "expected"), ROUNDING, ids=[case[0] for case in ROUNDING])
def test_integer_views_round_up(_id: str, view, text: str, expected: int) -> None:
    assert view(text) == expected


def test_sub_nano_precision_rounds_up_to_one_nano() -> None:
    assert parse_quantity("0.0000000001") == Fraction(1, 10**9)
    assert parse_quantity("1e-12") == Fraction(1, 10**9)


def test_values_are_exact_fractions_never_floats() -> None:
    assert isinstance(parse_quantity("0.1"), Fraction)
    assert parse_quantity("0.1") * 3 == parse_quantity("0.3")


CANONICAL = [
    ("500m", "500m"),
    ("0.5", "500m"),
    ("1.5", "1500m"),
    ("1000", "1k"),
    ("1500", "1500"),
    ("2000m", "2"),
    ("1Gi", "1Gi"),
    ("1024Mi", "1Gi"),
    ("1.5Gi", "1536Mi"),
    ("1.5Ki", "1536"),
    ("0.5Ki", "512"),
    ("1e3", "1e3"),
    ("1E3", "1e3"),
    ("1.5e0", "1500e-3"),
    ("0.1m", "100u"),
    ("0", "0"),
    ("0Gi", "0"),
    ("-1.5", "-1500m"),
    ("1E", "1E"),
    ("10E", "10E"),
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL, ids=[case[0] for case in CANONICAL])
def test_canonical_spelling_matches_kubernetes(text: str, canonical: str) -> None:
    assert canonical_quantity(text) == canonical
    assert Quantity.parse(text).canonical() == canonical


@pytest.mark.parametrize("text", [case[0] for case in CANONICAL])
def test_canonical_spelling_parses_back_to_the_same_value(text: str) -> None:
    assert parse_quantity(canonical_quantity(text)) == parse_quantity(text)


def test_format_quantity_spells_an_amount_in_a_format() -> None:
    assert format_quantity(Fraction(1, 2)) == "500m"
    assert format_quantity(2**30, "BinarySI") == "1Gi"
    assert format_quantity(1000, "DecimalExponent") == "1e3"
    assert format_quantity(10**21) == "1000E"


def test_parse_reports_the_notation() -> None:
    assert Quantity.parse("1Gi").format == "BinarySI"
    assert Quantity.parse("1G").format == "DecimalSI"
    assert Quantity.parse("1e9").format == "DecimalExponent"
    assert Quantity.parse("0.5Ki").format == "BinarySI"
    # Below one, a binary suffix cannot spell the value: Kubernetes switches to DecimalSI.
    assert Quantity.parse("0.0001Ki").format == "DecimalSI"
    assert canonical_quantity("0.0001Ki") == "102400u"


INVALID = [
    ("1.5.0", "1.5.0"),
    ("empty", ""),
    ("leading space", " 1"),
    ("trailing space", "1 "),
    ("space before suffix", "1 Gi"),
    ("letters", "abc"),
    ("suffix only", "Gi"),
    ("sign only", "-"),
    ("dot only", "."),
    ("lower-case ki", "1ki"),
    ("upper-case K", "1K"),
    ("unknown suffix", "1x"),
    ("two suffixes", "1Gim"),
    ("bare exponent marker", "1e"),
    ("fractional exponent", "1e1.5"),
    ("exponent with binary suffix", "1e3Gi"),
    ("double sign", "--1"),
    ("hex", "0x10"),
    ("comma decimal", "1,5"),
    ("non-ASCII digit", "\u0661"),
    ("overlong", "1" * (MAX_QUANTITY_LENGTH + 1)),
    ("huge exponent", "1e1000000"),
]


@pytest.mark.parametrize(("_id", "text"), INVALID, ids=[case[0] for case in INVALID])
def test_invalid_quantity_is_rejected_with_the_text(_id: str, text: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert info.value.text == text
    assert "invalid quantity" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_overlong_text_is_cut_short_in_the_message() -> None:
    with pytest.raises(QuantityError, match="longer than 64 characters") as info:
        parse_quantity("9" * 10_000)
    assert len(str(info.value)) < 200


@pytest.mark.parametrize("not_text", [None, 1, 1.5, True], ids=["None", "int", "float", "bool"])
def test_non_string_is_a_quantity_error_not_a_type_error(not_text: object) -> None:
    with pytest.raises(QuantityError, match="must be a string"):
        parse_quantity(not_text)  # type: ignore[arg-type]


def test_longest_allowed_text_parses() -> None:
    assert value("1" * MAX_QUANTITY_LENGTH) == int("1" * MAX_QUANTITY_LENGTH)


def test_resource_list_gives_cpu_in_milli_and_the_rest_in_base_units() -> None:
    requests = {
        "cpu": "2",
        "memory": "10Gi",
        "ephemeral-storage": "10Gi",
        "nvidia.com/gpu": "1",
        "pods": "110",
    }
    assert resource_list_to_ints(requests) == {
        "cpu": 2000,
        "memory": 10 * 2**30,
        "ephemeral-storage": 10 * 2**30,
        "nvidia.com/gpu": 1,
        "pods": 110,
    }


def test_resource_list_rounds_up() -> None:
    assert resource_list_to_ints({"cpu": "0.1m", "memory": "1.5"}) == {"cpu": 1, "memory": 2}


def test_resource_list_error_names_the_resource() -> None:
    with pytest.raises(QuantityError, match="'memory'") as info:
        resource_list_to_ints({"cpu": "1", "memory": "1 Gi"})
    assert info.value.resource == "memory"
    assert info.value.text == "1 Gi"


def test_resource_list_refuses_amounts_beyond_int64() -> None:
    with pytest.raises(QuantityError, match="64-bit"):
        resource_list_to_ints({"memory": "8Ei"})
    assert resource_list_to_ints({"memory": "7Ei"}) == {"memory": 7 * 2**60}
    with pytest.raises(QuantityError, match="64-bit"):
        resource_list_to_ints({"cpu": "10P"})  # 10^19 millicores
