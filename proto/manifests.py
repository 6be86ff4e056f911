"""Kubernetes-shaped manifests (YAML or JSON files) to and from the kinds' messages.

    load(["app.yaml", "k8s/"], recursive=True) -> [Manifest(source, document, info, message), ...]
    from_dict({"apiVersion": "v1", "kind": "Pod", ...}) -> core_pb2.Pod
    to_dict(pod) -> {"apiVersion": "v1", "kind": "Pod", "metadata": {...}, ...}

A file holds one or more documents (YAML separated by ``---``, or a stream of JSON objects); a
document of kind ``List`` (or ``PodList``, ...) holds its objects under ``items``. Each document
maps onto its kind's message through the message descriptors, field by field, with Kubernetes'
rules rather than protobuf's JSON mapping: only the JSON (lowerCamelCase) names, no string "3"
for a number, ``IntOrString`` fields as a bare number or string, quantities (fields marked
``(quantity)``) as strings or numbers, ``bytes`` fields (Secret ``data``) as base64.

Every error is a ManifestError that names the file, the document (and the List item), the kind
and name of the object and the field path:

    app.yaml: document 2 (Deployment "web"): spec.template.spec.containers[0].imagePullPolcy:
        unknown field (did you mean "imagePullPolicy"?)
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import os
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, Any

import yaml
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from shoal.proto import kinds
from shoal.proto.kinds import KindInfo
from shoal.v1 import meta_pb2

__all__ = [
    "MAX_MANIFEST_BYTES",
    "MANIFEST_EXTENSIONS",
    "Document",
    "Manifest",
    "ManifestError",
    "expand_paths",
    "from_dict",
    "load",
    "load_text",
    "read_documents",
    "to_dict",
]

# kubectl reads any size; a cap keeps a stray multi-gigabyte file from eating the machine and
# stays far above any real manifest (the server refuses single objects over 1.5 MB anyway).
MAX_MANIFEST_BYTES = 8 * 1024 * 1024
MANIFEST_EXTENSIONS = (".yaml", ".yml", ".json")
STDIN = "STDIN"  # the source name of "-f -", as kubectl prints it
_MAX_SHOWN = 64


class ManifestError(ValueError):
    """A manifest that cannot be read or does not map onto its kind. ``str()`` is one line:
    ``<source>: document <n> (<Kind> "<name>"): <field path>: <reason>`` (parts that are not
    known are left out)."""

    def __init__(
        self,
        reason: str,
        *,
        source: str = "",
        document: int | None = None,
        item: int | None = None,
        label: str = "",
        path: str = "",
    ) -> None:
        self.reason = reason
        self.source = source
        self.document = document
        self.item = item
        self.label = label
        self.path = path
        super().__init__(str(self))

    def located(self, source: str, document: int | None, item: int | None = None, label: str = "") -> "ManifestError":
        return ManifestError(self.reason, source=source, document=document, item=item,
                             label=label or self.label, path=self.path)

    def __str__(self) -> str:
        where = _location(self.source, self.document, self.item, self.label)
        parts = [p for p in (where, self.path) if p]
        return ": ".join([*parts, self.reason])


def _location(source: str, document: int | None, item: int | None, label: str) -> str:
    text = source
    if document is not None:
        text = f"{text}: document {document}" if text else f"document {document}"
        if item is not None:
            text += f", item {item}"
    if label:
        text = f"{text} ({label})" if text else label
    return text


@dataclass(frozen=True)
class Document:
    """One decoded document (or one item of a List document) and where it came from."""

    source: str
    index: int  # 1-based position of the document in its source
    item: int | None  # 1-based position inside a List document, else None
    data: Any


@dataclass(frozen=True)
class Manifest:
    """One object read from a manifest: its kind, its message and where it came from."""

    source: str
    document: int
    item: int | None
    info: KindInfo
    message: Message

    @property
    def name(self) -> str:
        return self.message.metadata.name

    @property
    def where(self) -> str:
        """``app.yaml: document 2 (Deployment "web")``, for messages about this object."""
        return _location(self.source, self.document, self.item, _label(self.info.kind, self.name))


# -- reading files -------------------------------------------------------------------------------


def expand_paths(paths: Sequence[str], *, recursive: bool = False) -> list[str]:
    """The files named by ``paths``: files as given ("-" is stdin), directories as their
    .yaml/.yml/.json files in name order (with ``recursive``, those of subdirectories too)."""
    files: list[str] = []
    for path in paths:
        if path == "-":
            files.append(path)
        elif os.path.isdir(path):
            files.extend(_directory_files(path, recursive))
        elif os.path.exists(path):
            files.append(path)
        else:
            raise ManifestError(f'the path "{path}" does not exist')
    return files


def _directory_files(directory: str, recursive: bool) -> list[str]:
    found = []
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.is_dir():
            if recursive:
                found.extend(_directory_files(entry.path, recursive))
        elif entry.name.endswith(MANIFEST_EXTENSIONS):
            found.append(entry.path)
    return found


def read_text(path: str, stdin: IO[bytes] | None = None) -> str:
    """The text of a manifest file ("-" reads ``stdin``), refusing files over the size cap."""
    source = STDIN if path == "-" else path
    try:
        if path == "-":
            stream = stdin if stdin is not None else sys.stdin.buffer
            data = stream.read(MAX_MANIFEST_BYTES + 1)
        else:
            size = os.path.getsize(path)
            if size > MAX_MANIFEST_BYTES:
                raise ManifestError(_too_large(size), source=source)
            with open(path, "rb") as f:
                data = f.read(MAX_MANIFEST_BYTES + 1)
    except OSError as exc:
        raise ManifestError(f"cannot read: {exc.strerror or exc}", source=source) from None
    if len(data) > MAX_MANIFEST_BYTES:
        raise ManifestError(_too_large(len(data), at_least=path == "-"), source=source)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"not UTF-8 text (invalid byte at offset {exc.start})", source=source) from None


def _too_large(size: int, at_least: bool = False) -> str:
    mib = MAX_MANIFEST_BYTES / (1024 * 1024)
    shown = f"more than {mib:g} MiB" if at_least else f"{size / (1024 * 1024):.1f} MiB"
    return f"file is too large ({shown}; manifests are limited to {mib:g} MiB)"


def load(paths: Sequence[str], *, recursive: bool = False, stdin: IO[bytes] | None = None) -> list[Manifest]:
    """Every object in the files (and directories) named by ``paths``, in order. Reads and
    converts everything before returning, so a bad document anywhere raises ManifestError
    before the caller has acted on any object."""
    manifests: list[Manifest] = []
    for path in expand_paths(paths, recursive=recursive):
        source = STDIN if path == "-" else path
        manifests.extend(load_text(read_text(path, stdin), source))
    return manifests


def load_text(text: str, source: str = "") -> list[Manifest]:
    """Every object of one file's text (see ``read_documents``), converted to its message."""
    manifests = []
    for doc in read_documents(text, source):
        info, message = _convert_document(doc)
        manifests.append(Manifest(doc.source, doc.index, doc.item, info, message))
    return manifests


def _convert_document(doc: Document) -> tuple[KindInfo, Message]:
    label = ""
    try:
        data = doc.data
        if not isinstance(data, Mapping):
            raise ManifestError(f"expected an object with apiVersion and kind, got {_json_type(data)}")
        info = _kind_info(data)
        label = _label(info.kind, _name_of(data))
        return info, _from_dict(data, info)
    except ManifestError as exc:
        raise exc.located(doc.source, doc.index, doc.item, label) from None


# -- documents ------------------------------------------------------------------------------


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML as Kubernetes reads it: timestamps stay strings (Timestamp fields parse them), and a
    key given twice in one mapping is an error instead of a silent overwrite."""

    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
                seen.add(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a string", key_node.start_mark) from None
            if duplicate:
                raise yaml.constructor.ConstructorError(
                    None, None, f"mapping key {_shown(key)} is given twice", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)



def read_documents(text: str, source: str = "") -> Iterator[Document]:
    """The documents of one file's text, empty ones skipped, List documents expanded into their
    items. JSON (a stream of objects) if the text starts with "{", else YAML."""
    raw = _json_documents(text, source) if text.lstrip().startswith("{") else _yaml_documents(text, source)
    for index, data in raw:
        if data is None:
            continue
        if _is_list(data):
            items = data.get("items")
            if items is None:
                continue
            if not isinstance(items, list):
                raise ManifestError(f"expected an array, got {_json_type(items)}",
                                    source=source, document=index, label=str(data.get("kind")), path="items")
            for position, item in enumerate(items, 1):
                yield Document(source, index, position, item)
        else:
            yield Document(source, index, None, data)


def _is_list(data: Any) -> bool:
    if not isinstance(data, Mapping):
        return False
    kind = data.get("kind")
    return isinstance(kind, str) and kind.endswith("List") and "items" in data and "spec" not in data


def _yaml_documents(text: str, source: str) -> Iterator[tuple[int, Any]]:
    loader = _Loader(text)
    current = 1  # the document being read: errors while looking for the next one are its
    try:
        while loader.check_data():
            data = loader.get_data()
            yield current, data
            current += 1
    except yaml.YAMLError as exc:
        raise ManifestError(_yaml_reason(exc), source=source, document=current) from None
    except RecursionError:
        raise ManifestError("invalid YAML: nested too deeply", source=source, document=current) from None
    finally:
        loader.dispose()


def _yaml_reason(exc: yaml.YAMLError) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    context = getattr(exc, "context", None)
    text = f"invalid YAML: {context + ': ' if context else ''}{problem}"
    if mark is not None:
        text += f" (line {mark.line + 1}, column {mark.column + 1})"
    return text


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {_shown(key)} is given twice in one object")
        out[key] = value
    return out


def _json_documents(text: str, source: str) -> Iterator[tuple[int, Any]]:
    decoder = json.JSONDecoder(object_pairs_hook=_no_duplicates)
    position, index = 0, 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return
        index += 1
        try:
            data, position = decoder.raw_decode(text, position)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})",
                                source=source, document=index) from None
        except (ValueError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise ManifestError(f"invalid JSON: {reason}", source=source, document=index) from None
        yield index, data


# -- dict -> message ------------------------------------------------------------------------------


def from_dict(doc: Mapping[str, Any]) -> Message:
    """The kind's message for one manifest document (a decoded YAML or JSON object). Raises
    ManifestError naming the kind, the object and the field path."""
    if not isinstance(doc, Mapping):
        raise ManifestError(f"expected an object with apiVersion and kind, got {_json_type(doc)}")
    info = _kind_info(doc)
    try:
        return _from_dict(doc, info)
    except ManifestError as exc:
        raise exc.located("", None, None, _label(info.kind, _name_of(doc))) from None


def _from_dict(doc: Mapping[str, Any], info: KindInfo) -> Message:
    msg = info.message()
    try:
        _fill_message(msg, doc, "")
    except RecursionError:
        raise ManifestError("nested too deeply") from None
    msg.api_version = info.api_version
    msg.kind = info.kind
    return msg


def _kind_info(doc: Mapping[str, Any]) -> KindInfo:
    kind, api_version = doc.get("kind"), doc.get("apiVersion")
    missing = [name for name, value in (("apiVersion", api_version), ("kind", kind)) if value in (None, "")]
    if missing:
        raise ManifestError(" and ".join(missing) + " not set (every object needs apiVersion and kind)")
    if not isinstance(kind, str) or not isinstance(api_version, str):
        raise ManifestError("apiVersion and kind must be strings")
    try:
        info = kinds.by_kind(kind)
    except KeyError:
        info = None
    if info is None or info.kind != kind or info.api_version != api_version:
        supported = ", ".join(k.kind for k in kinds.all_kinds())
        hint = ""
        if info is not None and info.kind == kind:
            hint = f'; {kind} is served as apiVersion "{info.api_version}"'
        raise ManifestError(
            f'no kind "{_clip(kind)}" is registered for version "{_clip(api_version)}"{hint} (supported kinds: {supported})'
        )
    return info


def _fill_message(msg: Message, data: Any, path: str) -> None:
    if not isinstance(data, Mapping):
        raise ManifestError(f"expected an object, got {_json_type(data)}", path=path)
    fields = _fields_by_json_name(msg.DESCRIPTOR)
    oneofs_set: dict[str, str] = {}
    for key, value in data.items():
        field_path = _join(path, key)
        field = fields.get(key) if isinstance(key, str) else None
        if field is None:
            raise ManifestError(_unknown_field(key, fields), path=field_path)
        if value is None:  # JSON null: the field is unset, as in Kubernetes
            continue
        oneof = field.containing_oneof
        if oneof is not None and len(oneof.fields) > 1:
            other = oneofs_set.setdefault(oneof.name, key)
            if other != key:
                raise ManifestError(f"may not be given together with {other} (only one of them may be set)", path=field_path)
        _set_field(msg, field, value, field_path)


def _set_field(msg: Message, field: FieldDescriptor, value: Any, path: str) -> None:
    entry = field.message_type
    if entry is not None and entry.GetOptions().map_entry:
        if not isinstance(value, Mapping):
            raise ManifestError(f"expected an object, got {_json_type(value)}", path=path)
        target = getattr(msg, field.name)
        value_field = entry.fields_by_name["value"]
        quantity = _is_quantity(field)
        for key, item in value.items():
            if not isinstance(key, str):
                raise ManifestError(f"keys must be strings, got {_json_type(key)} {_shown(key)}", path=path)
            item_path = _join(path, key)
            if item is None:
                raise ManifestError("expected a value, got null", path=item_path)
            if value_field.message_type is not None:
                _fill_value(target[key], item, item_path)
            else:
                target[key] = _scalar(value_field, item, item_path, quantity)
        return
    if field.is_repeated:
        if not isinstance(value, list):
            raise ManifestError(f"expected an array, got {_json_type(value)}", path=path)
        target = getattr(msg, field.name)
        quantity = _is_quantity(field)
        for index, item in enumerate(value):
            item_path = f"{path}[{index}]"
            if field.message_type is not None:
                if item is None:
                    raise ManifestError("expected an object, got null", path=item_path)
                _fill_value(target.add(), item, item_path)
            else:
                if item is None:
                    raise ManifestError("expected a value, got null", path=item_path)
                target.append(_scalar(field, item, item_path, quantity))
        return
    if field.message_type is not None:
        sub = getattr(msg, field.name)
        sub.SetInParent()
        _fill_value(sub, value, path)
        return
    setattr(msg, field.name, _scalar(field, value, path, _is_quantity(field)))


_INT_OR_STRING = meta_pb2.IntOrString.DESCRIPTOR.full_name


def _fill_value(msg: Message, value: Any, path: str) -> None:
    """Fills a message-typed value, handling the messages that are not objects in JSON."""
    name = msg.DESCRIPTOR.full_name
    if name == _INT_OR_STRING:
        if isinstance(value, int) and not isinstance(value, bool):
            if not -(2**31) <= value < 2**31:
                raise ManifestError(f"{value} is out of range for a 32-bit integer", path=path)
            msg.int_val = value
        elif isinstance(value, str):
            msg.str_val = value
        else:
            raise ManifestError(f"expected an integer or a string, got {_json_type(value)}", path=path)
    elif name == "google.protobuf.Timestamp":
        if not isinstance(value, str):
            raise ManifestError(f"expected an RFC 3339 time string, got {_json_type(value)}", path=path)
        try:
            msg.FromJsonString(value)
        except ValueError:
            raise ManifestError(f'invalid time "{_clip(value)}" (expected RFC 3339, e.g. "2024-05-01T12:00:00Z")',
                                path=path) from None
    elif name.startswith("google.protobuf."):
        try:
            json_format.ParseDict(value, msg)
        except json_format.ParseError as exc:
            raise ManifestError(str(exc).splitlines()[0], path=path) from None
    else:
        _fill_message(msg, value, path)


_INT_RANGES = {
    FieldDescriptor.CPPTYPE_INT32: (-(2**31), 2**31 - 1, "a 32-bit integer"),
    FieldDescriptor.CPPTYPE_INT64: (-(2**63), 2**63 - 1, "a 64-bit integer"),
    FieldDescriptor.CPPTYPE_UINT32: (0, 2**32 - 1, "an unsigned 32-bit integer"),
    FieldDescriptor.CPPTYPE_UINT64: (0, 2**64 - 1, "an unsigned 64-bit integer"),
}


def _scalar(field: FieldDescriptor, value: Any, path: str, quantity: bool) -> Any:
    cpp = field.cpp_type
    if cpp == FieldDescriptor.CPPTYPE_STRING:
        if field.type == FieldDescriptor.TYPE_BYTES:
            return _base64(value, path)
        if isinstance(value, str):
            return value
        if quantity and isinstance(value, (int, float)) and not isinstance(value, bool):
            return _quantity_text(value)
        raise ManifestError(_wrong_type("a string", value), path=path)
    if cpp in _INT_RANGES:
        low, high, what = _INT_RANGES[cpp]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ManifestError(_wrong_type("an integer", value), path=path)
        if not low <= value <= high:
            raise ManifestError(f"{value} is out of range for {what}", path=path)
        return value
    if cpp == FieldDescriptor.CPPTYPE_BOOL:
        if not isinstance(value, bool):
            raise ManifestError(_wrong_type("a boolean (true or false)", value), path=path)
        return value
    if cpp in (FieldDescriptor.CPPTYPE_DOUBLE, FieldDescriptor.CPPTYPE_FLOAT):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise ManifestError(_wrong_type("a number", value), path=path)
        return float(value)
    if cpp == FieldDescriptor.CPPTYPE_ENUM:
        names = [v.name for v in field.enum_type.values]
        if isinstance(value, str) and value in field.enum_type.values_by_name:
            return field.enum_type.values_by_name[value].number
        raise ManifestError(f"expected one of {', '.join(names)}, got {_shown(value)}", path=path)
    raise ManifestError(f"unsupported field type {field.type}", path=path)  # pragma: no cover


def _quantity_text(value: int | float) -> str:
    """A quantity written as a JSON number, as Kubernetes would spell it: 2 -> "2", 0.5 -> "0.5"."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return repr(value)
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    return str(value)


def _base64(value: Any, path: str) -> bytes:
    if not isinstance(value, str):
        raise ManifestError(_wrong_type("a base64 string", value), path=path)
    try:
        return base64.b64decode(re.sub(r"[\r\n]", "", value), validate=True)
    except (binascii.Error, ValueError):
        raise ManifestError("illegal base64 data (the values of data are base64; use stringData for plain text)",
                            path=path) from None


# -- message -> dict ------------------------------------------------------------------------------


def to_dict(msg: Message) -> dict[str, Any]:
    """The manifest of an object (a kind's message or an Object envelope): Kubernetes' JSON
    form, empty fields left out, numbers as numbers, apiVersion and kind filled in."""
    info, msg = _info_and_message(msg)
    body = kinds.to_manifest(msg)
    if info is None:
        return body
    body.pop("apiVersion", None)
    body.pop("kind", None)
    return {"apiVersion": info.api_version, "kind": info.kind, **body}


_INFO_BY_MESSAGE = {info.message.DESCRIPTOR.full_name: info for info in kinds.all_kinds()}


def _info_and_message(msg: Message) -> tuple[KindInfo | None, Message]:
    if msg.DESCRIPTOR.full_name == "shoal.v1.Object":
        return kinds.unwrap(msg)  # type: ignore[arg-type]
    return _INFO_BY_MESSAGE.get(msg.DESCRIPTOR.full_name), msg


# -- helpers -------------------------------------------------------------------------------------

_FIELDS: dict[str, dict[str, FieldDescriptor]] = {}


def _fields_by_json_name(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    fields = _FIELDS.get(descriptor.full_name)
    if fields is None:
        fields = {f.json_name: f for f in descriptor.fields}
        _FIELDS[descriptor.full_name] = fields
    return fields


def _is_quantity(field: FieldDescriptor) -> bool:
    return field.has_options and bool(field.GetOptions().Extensions[meta_pb2.quantity])


def _unknown_field(key: Any, fields: Mapping[str, FieldDescriptor]) -> str:
    if not isinstance(key, str):
        return f"keys must be strings, got {_json_type(key)} {_shown(key)}"
    close = difflib.get_close_matches(key, list(fields), n=1, cutoff=0.75)
    by_proto_name = next((f.json_name for f in fields.values() if f.name == key), None)
    suggestion = close[0] if close else by_proto_name
    return f'unknown field (did you mean "{suggestion}"?)' if suggestion else "unknown field"


_SIMPLE_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")


def _join(path: str, key: Any) -> str:
    text = str(key)
    if not _SIMPLE_KEY.match(text):
        return f"{path}[{json.dumps(text)}]"
    return f"{path}.{text}" if path else text


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__


def _wrong_type(expected: str, value: Any) -> str:
    got = _json_type(value)
    text = f"expected {expected}, got {got}"
    if got in ("boolean", "number", "string"):
        text += f" {_shown(value)}"
        if expected == "a string":
            text += " (quote the value to make it a string)"
    return text


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(_clip(value))
    return _clip(repr(value))


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_SHOWN else text[:_MAX_SHOWN] + "..."


def _name_of(doc: Mapping[str, Any]) -> str:
    metadata = doc.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    return _clip(name) if isinstance(name, str) else ""


def _label(kind: str, name: str) -> str:
    return f'{kind} "{name}"' if name else kind
