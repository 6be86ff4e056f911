"""Kubernetes' name grammars (apimachinery's util/validation), precompiled.

Each ``*_problem`` function returns None for a good name and else what is wrong with it, in
Kubernetes' words. Lengths are checked before any regex runs, so a 1 MB string costs one len().
Names seen valid once are remembered (a bounded set), since the same label keys and values
arrive on every pod of a workload.
"""

from __future__ import annotations

import ipaddress
import re

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
DNS1035_LABEL_MAX = 63
QUALIFIED_NAME_MAX = 63
LABEL_VALUE_MAX = 63
IANA_SVC_NAME_MAX = 15
CONFIG_KEY_MAX = 253
PORT_RANGE_MSG = "must be between 1 and 65535, inclusive"

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = _DNS1123_LABEL_FMT + r"(\." + _DNS1123_LABEL_FMT + ")*"
_DNS1035_LABEL_FMT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = "(" + _QUALIFIED_NAME_FMT + ")?"
_CONFIG_KEY_FMT = "[-._a-zA-Z0-9]+"

_dns1123_label = re.compile(_DNS1123_LABEL_FMT).fullmatch
_dns1123_subdomain = re.compile(_DNS1123_SUBDOMAIN_FMT).fullmatch
_dns1035_label = re.compile(_DNS1035_LABEL_FMT).fullmatch
_qualified_name = re.compile(_QUALIFIED_NAME_FMT).fullmatch
_label_value = re.compile(_LABEL_VALUE_FMT).fullmatch
_config_key = re.compile(_CONFIG_KEY_FMT).fullmatch
_iana_svc_name = re.compile("[-a-z0-9]+").fullmatch
_has_letter = re.compile("[a-z]").search
_env_var_name = re.compile("[ -<>-~]+").fullmatch  # printable ASCII but '='
_http_header_name = re.compile("[-A-Za-z0-9]+").fullmatch
_decimal_integer = re.compile("[-+]?[0-9]{1,18}").fullmatch

DNS1123_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used "
    f"for validation is '{_DNS1123_LABEL_FMT}')"
)
DNS1123_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    f"for validation is '{_DNS1123_SUBDOMAIN_FMT}')"
)
DNS1035_LABEL_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name', or 'abc-123', "
    f"regex used for validation is '{_DNS1035_LABEL_FMT}')"
)
QUALIFIED_NAME_MSG = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
    "with an alphanumeric character (e.g. 'MyName', or 'my.name', or '123-abc', regex used for "
    f"validation is '{_QUALIFIED_NAME_FMT}')"
)
LABEL_VALUE_MSG = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'MyValue', or 'my_value', "
    f"or '12345', regex used for validation is '{_LABEL_VALUE_FMT}')"
)
CONFIG_KEY_MSG = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name', "
    f"or 'KEY_NAME', or 'key-name', regex used for validation is '{_CONFIG_KEY_FMT}')"
)


def _too_long(max_length: int) -> str:
    return f"must be no more than {max_length} characters"


def dns1123_label_problem(value: str) -> str | None:
    if len(value) > DNS1123_LABEL_MAX:
        return _too_long(DNS1123_LABEL_MAX)
    return None if _dns1123_label(value) else DNS1123_LABEL_MSG


def dns1123_subdomain_problem(value: str) -> str | None:
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        return _too_long(DNS1123_SUBDOMAIN_MAX)
    return None if _dns1123_subdomain(value) else DNS1123_SUBDOMAIN_MSG


def dns1035_label_problem(value: str) -> str | None:
    if len(value) > DNS1035_LABEL_MAX:
        return _too_long(DNS1035_LABEL_MAX)
    return None if _dns1035_label(value) else DNS1035_LABEL_MSG


def path_segment_problem(value: str) -> str | None:
    """A name that only needs to be one segment of a URL path (an HPA's scale target)."""
    if value in (".", ".."):
        return f"may not be '{value}'"
    if "/" in value or "%" in value:
        return "may not contain '/' or '%'"
    return None


_valid_qualified: set[str] = set()
_valid_label_values: set[str] = set()
_REMEMBERED_MAX = 1 << 14


def qualified_name_problem(value: str) -> str | None:
    """A label key, annotation key, taint key, ...: ``[prefix/]name``."""
    if value in _valid_qualified:
        return None
    prefix, slash, name = value.rpartition("/") if "/" in value else ("", "", value)
    if slash:
        if not prefix:
            return "prefix part must be non-empty"
        if prefix.count("/"):
            return (
                "a qualified name must consist of alphanumeric characters, '-', '_' or '.', and "
                "must start and end with an alphanumeric character, with an optional DNS "
                "subdomain prefix and '/' (e.g. 'example.com/MyName')"
            )
        problem = dns1123_subdomain_problem(prefix)
        if problem:
            return "prefix part " + problem
    if not name:
        return "name part must be non-empty"
    if len(name) > QUALIFIED_NAME_MAX:
        return "name part " + _too_long(QUALIFIED_NAME_MAX)
    if not _qualified_name(name):
        return QUALIFIED_NAME_MSG
    if len(_valid_qualified) >= _REMEMBERED_MAX:
        _valid_qualified.clear()
    _valid_qualified.add(value)
    return None


def label_value_problem(value: str) -> str | None:
    if value in _valid_label_values:
        return None
    if len(value) > LABEL_VALUE_MAX:
        return _too_long(LABEL_VALUE_MAX)
    if not _label_value(value):
        return LABEL_VALUE_MSG
    if len(_valid_label_values) >= _REMEMBERED_MAX:
        _valid_label_values.clear()
    _valid_label_values.add(value)
    return None


def iana_svc_name_problem(value: str) -> str | None:
    """A port name: at most 15 lower-case letters, digits and single dashes, with a letter."""
    if len(value) > IANA_SVC_NAME_MAX:
        return _too_long(IANA_SVC_NAME_MAX)
    if not _iana_svc_name(value):
        return "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"
    if "--" in value:
        return "must not contain consecutive hyphens"
    if not _has_letter(value):
        return "must contain at least one letter (a-z)"
    if value[0] == "-" or value[-1] == "-":
        return "must not begin or end with a hyphen"
    return None


def config_key_problem(value: str) -> str | None:
    """A key of a ConfigMap or Secret (it becomes a file name)."""
    if len(value) > CONFIG_KEY_MAX:
        return _too_long(CONFIG_KEY_MAX)
    if not _config_key(value):
        return CONFIG_KEY_MSG
    if value == ".":
        return "must not be '.'"
    if value == "..":
        return "must not be '..'"
    if value.startswith(".."):
        return "must not start with '..'"
    return None


def env_var_name_problem(value: str) -> str | None:
    if not _env_var_name(value):
        return "a valid environment variable name must consist only of printable ASCII characters other than '='"
    return None


def http_header_name_problem(value: str) -> str | None:
    if not _http_header_name(value):
        return (
            "a valid HTTP header must consist of alphanumeric characters or '-' (e.g. 'X-Header-Name', "
            "regex used for validation is '[-A-Za-z0-9]+')"
        )
    return None


def parse_decimal_integer(value: str) -> int | None:
    """An integer written in ASCII digits (as Go's strconv.ParseInt), else None; Python's int()
    would also take other scripts' digits and underscores."""
    return int(value) if _decimal_integer(value) else None


def ip_problem(value: str) -> str | None:
    if len(value) > 45:
        return "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"
    return None


def cidr_problem(value: str) -> str | None:
    message = "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"
    if len(value) > 49 or "/" not in value:
        return message
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return message
    return None


def mask_trailing_dash(value: str) -> str:
    """generateName prefixes may end in '-': check them as if a suffix followed."""
    return value[:-1] + "a" if len(value) > 1 and value[-1] == "-" else value
