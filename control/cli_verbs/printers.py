"""How objects are printed: kubectl's tables and its -o formats (wide, yaml, json, name,
jsonpath=..., custom-columns=...)."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, TextIO

import yaml
from shoal.control.cli_verbs import jsonpath, tables
from shoal.control.cli_verbs.base import CLIError

FORMATS = ("custom-columns", "json", "jsonpath", "name", "wide", "yaml")
_GAP = 3  # kubectl's tabwriter pads columns with three spaces


@dataclass(frozen=True)
class OutputFormat:
    """A parsed -o value: ``name`` is "" for the default table."""

    name: str = ""
    template: Any = None  # parsed jsonpath nodes, or [(header, path), ...] for custom-columns

    @property
    def is_table(self) -> bool:
        return self.name in ("", "wide", "custom-columns")


def parse_output(value: str | None) -> OutputFormat:
    """The -o flag's value; CLIError for a format this CLI does not print."""
    if not value:
        return OutputFormat()
    name, _, arg = value.partition("=")
    try:
        if name in ("jsonpath", "jsonpath-as-json") and arg:
            return OutputFormat("jsonpath", jsonpath.parse(arg))
        if name == "custom-columns" and arg:
            return OutputFormat(name, _parse_custom_columns(arg))
    except jsonpath.JSONPathError as exc:
        raise CLIError(f"error parsing {name} template: {exc}") from None
    if name in ("wide", "yaml", "json", "name") and not arg:
        return OutputFormat(name)
    raise CLIError(
        f'unable to match a printer suitable for the output format "{value}", allowed formats are: '
        + ",".join(FORMATS)
    )


def _parse_custom_columns(spec: str) -> list[tuple[str, tuple]]:
    columns = []
    for part in spec.split(","):
        header, sep, path = part.partition(":")
        if not sep or not header:
            raise CLIError(f'custom-columns format specified but no custom columns given: "{part}" is not HEADER:PATH')
        columns.append((header, jsonpath.sort_key_path(path)))
    return columns


# -- documents ------------------------------------------------------------------------------------


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    pass


def _str_representer(dumper, text: str):
    style = "|" if "\n" in text and not text.strip(" \n") == "" else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", text, style=style)


_Dumper.add_representer(str, _str_representer)


def yaml_text(doc: Any) -> str:
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1 << 16)


def json_text(doc: Any) -> str:
    return json.dumps(doc, indent=4, sort_keys=True, ensure_ascii=False) + "\n"


def list_document(items: list[dict]) -> dict:
    """Several objects as kubectl prints them: a v1 List."""
    return {"apiVersion": "v1", "items": items, "kind": "List", "metadata": {"resourceVersion": ""}}


def kind_ref(info) -> str:
    """How kubectl names a kind in its output: ``pod``, ``deployment.apps``, ``job.batch``."""
    return f"{info.singular}.{info.group}" if info.group else info.singular


def object_name(info, msg) -> str:
    """``pod/web``, ``deployment.apps/web``: how apply, delete and -o name refer to an object."""
    return f"{kind_ref(info)}/{msg.metadata.name}"


def print_documents(docs: list[dict], fmt: OutputFormat, out: TextIO, *, single: bool) -> None:
    """-o yaml/json/jsonpath of objects: one object as itself when ``single``, else a List."""
    doc = docs[0] if single and len(docs) == 1 else list_document(docs)
    if fmt.name == "yaml":
        out.write(yaml_text(doc))
    elif fmt.name == "json":
        out.write(json_text(doc))
    elif fmt.name == "jsonpath":
        out.write(jsonpath.render(fmt.template, doc))
        if out.isatty():
            out.write("\n")


# -- tables -----------------------------------------------------------------------------------------


@dataclass
class TableOptions:
    wide: bool = False
    namespace_column: bool = False
    kind_prefix: bool = False
    show_labels: bool = False
    label_columns: list[str] = field(default_factory=list)
    no_headers: bool = False
    custom: list | None = None  # custom-columns: [(header, path)]


def table_headers(info, opts: TableOptions) -> list[str]:
    if opts.custom is not None:
        return [header for header, _ in opts.custom]
    cols = tables.columns_for(info.kind)
    headers = list(cols.headers) + (list(cols.wide) if opts.wide else [])
    if opts.namespace_column and info.namespaced:
        headers.insert(0, "NAMESPACE")
    headers += [key.rsplit("/", 1)[-1].upper() for key in opts.label_columns]
    if opts.show_labels:
        headers.append("LABELS")
    return headers


def table_row(info, msg, opts: TableOptions, now: float, to_dict=None) -> list[str]:
    if opts.custom is not None:
        doc = to_dict(msg)
        return [" ".join(jsonpath.format_value(v) for v in jsonpath.evaluate(path, doc)) or tables.NONE
                for _, path in opts.custom]
    cols = tables.columns_for(info.kind)
    cells = cols.cells(msg, now)
    width = len(cols.headers) - (1 if cols.name_column else 0) + (len(cols.wide) if opts.wide else 0)
    row = cells[:width]
    if cols.name_column:
        name = object_name(info, msg) if opts.kind_prefix else msg.metadata.name
        row.insert(0, name)
    if opts.namespace_column and info.namespaced:
        row.insert(0, msg.metadata.namespace)
    labels = msg.metadata.labels
    row += [labels.get(key, "") for key in opts.label_columns]
    if opts.show_labels:
        row.append(",".join(f"{k}={v}" for k, v in sorted(labels.items())) or tables.NONE)
    return row


class TableWriter:
    """Aligned columns, three spaces apart. Widths grow to fit and are kept from one write to
    the next, so rows streamed by ``get -w`` line up with the table above them."""

    def __init__(self, out: TextIO, headers: list[str], *, no_headers: bool = False) -> None:
        self.out = out
        self.headers = headers
        self.no_headers = no_headers
        self.widths = [len(h) for h in headers]
        self.headers_written = no_headers

    def write(self, rows: Iterable[list[str]]) -> None:
        rows = list(rows)
        for row in rows:
            for i, cell in enumerate(row):
                if i < len(self.widths):
                    self.widths[i] = max(self.widths[i], len(cell))
        lines = []
        if not self.headers_written:
            lines.append(self._line(self.headers))
            self.headers_written = True
        lines.extend(self._line(row) for row in rows)
        if lines:
            self.out.write("\n".join(lines) + "\n")
            self.out.flush()

    def _line(self, cells: list[str]) -> str:
        last = len(cells) - 1
        return "".join(cell if i == last else cell.ljust(self.widths[i] + _GAP) for i, cell in enumerate(cells)).rstrip()


def print_table(groups: list[tuple[Any, list]], opts: TableOptions, out: TextIO = sys.stdout, to_dict=None) -> None:
    """One table per kind, separated by a blank line (as ``kubectl get pods,svc``)."""
    now = time.time()
    first = True
    for info, items in groups:
        if not items:
            continue
        if not first:
            out.write("\n")
        first = False
        writer = TableWriter(out, table_headers(info, opts), no_headers=opts.no_headers)
        writer.write(table_row(info, msg, opts, now, to_dict) for msg in items)
