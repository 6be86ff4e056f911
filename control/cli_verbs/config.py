"""The CLI's config file (kubeconfig's idea, flattened): named contexts, each a server, a
namespace and a token, and the current one.

    ~/.shoal/config (or $SHOAL_CONFIG)
        apiVersion: v1
        kind: Config
        current-context: local
        contexts:
        - name: local
          context: {server: 127.0.0.1:7443, namespace: default, token: ...}

`shoal config view | get-contexts | current-context | use-context | set-context | delete-context`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass, field

from shoal.control.cli_verbs.base import CLIError, add_verb, command

CONFIG_ENV = "SHOAL_CONFIG"
CONTEXT_FIELDS = ("server", "namespace", "token")


def config_path() -> str:
    return os.environ.get(CONFIG_ENV) or os.path.join(os.path.expanduser("~"), ".shoal", "config")


@dataclass
class ShoalConfig:
    path: str
    current_context: str = ""
    contexts: dict[str, dict[str, str]] = field(default_factory=dict)

    def context(self, name: str) -> dict[str, str]:
        return self.contexts.get(name, {})

    def to_document(self, *, redact: bool = True) -> dict:
        contexts = []
        for name, values in self.contexts.items():
            shown = {k: v for k, v in values.items() if v}
            if redact and shown.get("token"):
                shown["token"] = "REDACTED"
            contexts.append({"name": name, "context": shown})
        return {"apiVersion": "v1", "kind": "Config", "current-context": self.current_context, "contexts": contexts}


def load(path: str | None = None) -> ShoalConfig:
    """The config at ``path`` (default: config_path()); an empty one if the file is absent."""
    import yaml

    path = path or config_path()
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f) or {}
    except FileNotFoundError:
        return ShoalConfig(path)
    except (OSError, yaml.YAMLError) as exc:
        raise CLIError(f"{path}: cannot read the config: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict):
        raise CLIError(f"{path}: the config must be a mapping")
    config = ShoalConfig(path, str(doc.get("current-context") or ""))
    for entry in doc.get("contexts") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise CLIError(f"{path}: every entry of contexts needs a name")
        values = entry.get("context") or {}
        if not isinstance(values, dict):
            raise CLIError(f"{path}: context {entry['name']!r} must be a mapping")
        config.contexts[entry["name"]] = {k: str(values[k]) for k in CONTEXT_FIELDS if values.get(k) is not None}
    return config


def save(config: ShoalConfig) -> None:
    """Writes the config atomically, readable by its owner only (it may hold tokens)."""
    import yaml

    directory = os.path.dirname(os.path.abspath(config.path))
    os.makedirs(directory, mode=0o700, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".config-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            yaml.safe_dump(config.to_document(redact=False), f, sort_keys=False)
        os.chmod(tmp, 0o600)
        os.replace(tmp, config.path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# -- the `config` verb ------------------------------------------------------------------------------


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "config", help="view and change the CLI's config file (contexts: server, namespace, token)",
        examples="""
            shoal config set-context dev --server 10.0.0.5:7443 --namespace web
            shoal config use-context dev
            shoal config set-context --current --namespace tools
            shoal config view
        """,
    )
    actions = p.add_subparsers(dest="config_action", metavar="ACTION")
    view = actions.add_parser("view", help="print the config (tokens redacted unless --raw)")
    view.add_argument("--raw", action="store_true", help="show tokens")
    view.add_argument("-o", "--output", choices=("yaml", "json"), default="yaml")
    view.add_argument("--minify", action="store_true", help="only the current context")
    actions.add_parser("get-contexts", help="list the contexts")
    actions.add_parser("current-context", help="print the current context's name")
    use = actions.add_parser("use-context", help="make a context the current one")
    use.add_argument("name")
    setc = actions.add_parser("set-context", help="create or change a context")
    setc.add_argument("name", nargs="?", help="the context (or --current)")
    setc.add_argument("--current", action="store_true", help="change the current context")
    # dest names differ from the global flags', which would otherwise shadow them
    setc.add_argument("--server", dest="ctx_server", metavar="HOST:PORT")
    setc.add_argument("--namespace", dest="ctx_namespace", metavar="NS")
    setc.add_argument("--token", dest="ctx_token")
    delete = actions.add_parser("delete-context", help="remove a context")
    delete.add_argument("name")
    for parser in actions.choices.values():
        parser.error = p.error  # type: ignore[method-assign]
    p.set_defaults(func=run_config)


@command
def run_config(args: argparse.Namespace) -> int:
    action = args.config_action
    if action is None:
        raise CLIError("config needs an action: view, get-contexts, current-context, use-context, set-context, "
                       "delete-context")
    config = load()
    if action == "view":
        return _view(config, args)
    if action == "get-contexts":
        return _get_contexts(config)
    if action == "current-context":
        if not config.current_context:
            raise CLIError("current-context is not set")
        print(config.current_context)
        return 0
    if action == "use-context":
        if args.name not in config.contexts:
            raise CLIError(f'no context exists with the name: "{args.name}"')
        config.current_context = args.name
        save(config)
        print(f'Switched to context "{args.name}".')
        return 0
    if action == "set-context":
        return _set_context(config, args)
    if args.name not in config.contexts:
        raise CLIError(f"cannot delete context {args.name}, not in {config.path}")
    del config.contexts[args.name]
    save(config)
    print(f"deleted context {args.name} from {config.path}")
    return 0


def _view(config: ShoalConfig, args: argparse.Namespace) -> int:
    from shoal.control.cli_verbs.printers import json_text, yaml_text

    if args.minify:
        current = config.current_context
        config = ShoalConfig(config.path, current, {current: config.context(current)} if current else {})
    doc = config.to_document(redact=not args.raw)
    sys.stdout.write(json_text(doc) if args.output == "json" else yaml_text(doc))
    return 0


def _get_contexts(config: ShoalConfig) -> int:
    from shoal.control.cli_verbs.printers import TableWriter

    writer = TableWriter(sys.stdout, ["CURRENT", "NAME", "SERVER", "NAMESPACE"])
    writer.write(
        ["*" if name == config.current_context else "", name, values.get("server", ""), values.get("namespace", "")]
        for name, values in config.contexts.items()
    )
    return 0


def _set_context(config: ShoalConfig, args: argparse.Namespace) -> int:
    if args.current:
        if args.name:
            raise CLIError("give a context name or --current, not both")
        if not config.current_context:
            raise CLIError("no current context is set")
        name = config.current_context
    elif args.name:
        name = args.name
    else:
        raise CLIError("set-context needs a context name (or --current)")
    created = name not in config.contexts
    values = config.contexts.setdefault(name, {})
    for key, value in (("server", args.ctx_server), ("namespace", args.ctx_namespace), ("token", args.ctx_token)):
        if value is not None:
            if value:
                values[key] = value
            else:
                values.pop(key, None)
    save(config)
    print(f'Context "{name}" {"created" if created else "modified"}.')
    return 0
