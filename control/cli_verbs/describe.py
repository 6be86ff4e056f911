"""`shoal describe`: one object for people: its metadata, the fields that matter for its kind,
its conditions and the Events about it, newest last."""

from __future__ import annotations

import argparse
import re
import sys
import time

from shoal.control.cli_verbs.base import (
    bool_flag,
    CLIError,
    add_filename_flags,
    add_verb,
    command,
    namespace_for,
    print_item_error,
    read_manifests,
    resource_targets,
)

NONE = "<none>"


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub, "describe", help="show objects in detail, with their conditions and events",
        examples="""
            shoal describe pod web
            shoal describe deploy/web -n shop
            shoal describe nodes
            shoal describe pods -l app=web
        """,
    )
    p.add_argument("resources", nargs="*", metavar="KIND [NAME...] | KIND/NAME...")
    p.add_argument("-l", "--selector", default="", help="describe the objects matching this label selector")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="look in every namespace")
    p.add_argument("--show-events", type=bool_flag, nargs="?", const=True, default=True, metavar="BOOL",
                   help="include the Events section (default: true)")
    add_filename_flags(p, what="to describe")
    p.set_defaults(func=run_describe)


@command
def run_describe(args: argparse.Namespace) -> int:
    import grpc
    from shoal.control.cli_verbs import connection
    from shoal.proto.client import APIStatusError

    conn = connection.resolve(args)
    failed = 0
    objects = []
    with conn.client() as client:
        if args.filename:
            wanted = [(m.info, m.message.metadata.namespace, [m.name]) for m in read_manifests(args, conn, verb="describe")]
        else:
            targets = resource_targets(args.resources)
            if not targets:
                raise CLIError('you must specify the type of resource to describe, e.g. "shoal describe pod web"')
            wanted = [(info, namespace_for(info, conn, args.all_namespaces), names) for info, names in targets]
        for info, namespace, names in wanted:
            if names:
                for name in names:
                    try:
                        objects.append((info, client.get(info.kind, name, namespace)))
                    except APIStatusError as exc:
                        if exc.code != grpc.StatusCode.NOT_FOUND:
                            raise
                        print_item_error(exc)
                        failed += 1
            else:
                items, _ = client.list_all(info.kind, namespace, label_selector=args.selector)
                objects.extend((info, item) for item in items)
        if not objects and not failed:
            print(f"No resources found in {conn.namespace} namespace.", file=sys.stderr)
        for index, (info, obj) in enumerate(objects):
            if index:
                sys.stdout.write("\n\n")
            events = _events_for(client, info, obj) if args.show_events else None
            sys.stdout.write(describe_object(info, obj, events))
            sys.stdout.flush()
    return 1 if failed else 0


def _events_for(client, info, obj) -> list:
    """The Events whose involvedObject is ``obj``, oldest first."""
    import grpc
    from shoal.control.cli_verbs.events import sorted_events
    from shoal.proto.client import APIStatusError

    meta = obj.metadata
    namespace = meta.namespace if info.namespaced else ""
    selector = f"involvedObject.kind={info.kind},involvedObject.name={meta.name}"
    try:
        events, _ = client.list_all("Event", namespace, field_selector=selector)
    except APIStatusError as exc:
        if exc.code != grpc.StatusCode.INVALID_ARGUMENT:
            raise
        events, _ = client.list_all("Event", namespace)  # a server without these field selectors
    ref_ok = [
        ev for ev in events
        if ev.involved_object.kind == info.kind and ev.involved_object.name == meta.name
        and (not ev.involved_object.uid or ev.involved_object.uid == meta.uid)
    ]
    return sorted_events(ref_ok)


# -- rendering --------------------------------------------------------------------------------------


class _Text:
    """Indented "Key: value" lines, the values of each block aligned as kubectl aligns them."""

    def __init__(self) -> None:
        self.lines: list[tuple[int, str, str | None]] = []

    def add(self, level: int, key: str, value: object = None) -> None:
        self.lines.append((level, key, None if value is None else str(value)))

    def raw(self, text: str) -> None:
        self.lines.append((-1, text, None))

    def render(self) -> str:
        out = []
        i = 0
        while i < len(self.lines):
            level = self.lines[i][0]
            j = i
            while j < len(self.lines) and self.lines[j][0] == level and self.lines[j][2] is not None:
                j += 1
            block = self.lines[i:j] if j > i else [self.lines[i]]
            width = max(len(key) for _, key, _ in block) + 2
            for lvl, key, value in block:
                if lvl < 0:
                    out.append(key)
                elif value is None:
                    out.append("  " * lvl + key + ":")
                else:
                    lines = value.split("\n") if value else [""]
                    pad = "  " * lvl + (key + ":").ljust(width)
                    out.append((pad + lines[0]).rstrip())
                    out.extend(" " * len(pad) + extra for extra in lines[1:])
            i += len(block)
        return "\n".join(out) + "\n"


def _map_lines(mapping) -> str:
    items = sorted(mapping.items())
    return "\n".join(f"{k}={v}" for k, v in items) if items else NONE


def _time(ts) -> str:
    if not ts.seconds and not ts.nanos:
        return NONE
    return time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(ts.seconds))


def describe_object(info, obj, events: list | None) -> str:
    text = _Text()
    meta = obj.metadata
    text.add(0, "Name", meta.name)
    if info.namespaced:
        text.add(0, "Namespace", meta.namespace)
    text.add(0, "Labels", _map_lines(meta.labels))
    text.add(0, "Annotations", _map_lines(meta.annotations))
    text.add(0, "CreationTimestamp", _time(meta.creation_timestamp))
    if meta.HasField("deletion_timestamp"):
        text.add(0, "DeletionTimestamp", _time(meta.deletion_timestamp))
    if meta.owner_references:
        text.add(0, "Controlled By", ", ".join(f"{o.kind}/{o.name}" for o in meta.owner_references))
    specific = _DESCRIBERS.get(info.kind)
    if specific is not None:
        specific(obj, text)
    else:
        _generic(info, obj, text)
    _conditions(obj, text)
    if events is not None:
        _events(events, text)
    return text.render()


def _generic(info, obj, text: _Text) -> None:
    from shoal.proto.manifests import to_dict

    doc = to_dict(obj)
    for key, value in doc.items():
        if key in ("apiVersion", "kind", "metadata"):
            continue
        if isinstance(value, dict) and "conditions" in value:
            value = {k: v for k, v in value.items() if k != "conditions"}
        _tree(text, 0, key, value)


def _title(key: str) -> str:
    """camelCase -> "Camel Case", as kubectl's generic describer prints field names."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", key)
    return words[:1].upper() + words[1:]


def _tree(text: _Text, level: int, key: str, value) -> None:
    if isinstance(value, dict):
        if not value:
            return
        text.add(level, _title(key))
        for k, v in value.items():
            _tree(text, level + 1, k, v)
    elif isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            text.add(level, _title(key))
            for item in value:
                for k, v in item.items():
                    _tree(text, level + 1, k, v)
        else:
            text.add(level, _title(key), ", ".join(str(v) for v in value) or NONE)
    else:
        text.add(level, _title(key), "true" if value is True else "false" if value is False else value)


def _conditions(obj, text: _Text) -> None:
    status = getattr(obj, "status", None)
    conditions = list(getattr(status, "conditions", [])) if status is not None else []
    if not conditions:
        return
    import io

    from shoal.control.cli_verbs.printers import TableWriter

    buffer = io.StringIO()
    has_reason = any(getattr(c, "reason", "") for c in conditions)
    has_message = any(getattr(c, "message", "") for c in conditions)
    headers = ["Type", "Status"] + (["Reason"] if has_reason else []) + (["Message"] if has_message else [])
    writer = TableWriter(buffer, headers)
    writer.write(
        [c.type, c.status] + ([c.reason] if has_reason else []) + ([c.message] if has_message else [])
        for c in conditions
    )
    text.add(0, "Conditions")
    _indented_table(text, buffer.getvalue())


def _indented_table(text: _Text, table: str) -> None:
    lines = table.rstrip("\n").split("\n")
    header = lines[0]
    underline = re.sub(r"\S+", lambda m: "-" * len(m.group()), header)
    for line in [header, underline, *lines[1:]]:
        text.raw("  " + line)


def _events(events: list, text: _Text) -> None:
    if not events:
        text.add(0, "Events", NONE)
        return
    import io

    from shoal.control.cli_verbs.printers import TableWriter
    from shoal.control.cli_verbs.tables import age, event_time

    now = time.time()
    rows = []
    for ev in events:
        seen = age(event_time(ev), now)
        if ev.count > 1 and ev.first_timestamp.seconds:
            seen = f"{seen} (x{ev.count} over {age(ev.first_timestamp, now)})"
        source = ev.source.component or ev.reporting_component
        rows.append([ev.type or "Normal", ev.reason, seen, source, ev.message.strip()])
    buffer = io.StringIO()
    TableWriter(buffer, ["Type", "Reason", "Age", "From", "Message"]).write(rows)
    text.add(0, "Events")
    _indented_table(text, buffer.getvalue())


# -- kinds with their own layout -------------------------------------------------------------------


def _resources(text: _Text, level: int, resources) -> None:
    for title, values in (("Limits", resources.limits), ("Requests", resources.requests)):
        if values:
            text.add(level, title)
            for k, v in sorted(values.items()):
                text.add(level + 1, k, v)


def _containers(text: _Text, title: str, containers, statuses) -> None:
    if not containers:
        return
    by_name = {s.name: s for s in statuses}
    text.add(0, title)
    for c in containers:
        text.add(1, c.name)
        text.add(2, "Image", c.image)
        ports = ", ".join(f"{p.container_port}/{p.protocol or 'TCP'}" for p in c.ports)
        text.add(2, "Port" + ("s" if len(c.ports) > 1 else ""), ports or NONE)
        if c.command:
            text.add(2, "Command", "\n".join(c.command))
        if c.args:
            text.add(2, "Args", "\n".join(c.args))
        status = by_name.get(c.name)
        if status is not None:
            state = status.state.WhichOneof("state") or "waiting"
            detail = getattr(status.state, state)
            text.add(2, "State", state.title())
            if getattr(detail, "reason", ""):
                text.add(3, "Reason", detail.reason)
            text.add(2, "Ready", "True" if status.ready else "False")
            text.add(2, "Restart Count", status.restart_count)
        _resources(text, 2, c.resources)
        if c.env:
            text.add(2, "Environment")
            for e in c.env:
                text.add(3, e.name, e.value if not e.HasField("value_from") else "<set from a reference>")
        if c.volume_mounts:
            text.add(2, "Mounts", "\n".join(f"{m.mount_path} from {m.name} ({'ro' if m.read_only else 'rw'})"
                                            for m in c.volume_mounts))


def _pod(pod, text: _Text) -> None:
    from shoal.control.cli_verbs.tables import pod_status

    spec, status = pod.spec, pod.status
    text.add(0, "Priority", spec.priority if spec.HasField("priority") else 0)
    if spec.priority_class_name:
        text.add(0, "Priority Class Name", spec.priority_class_name)
    text.add(0, "Node", f"{spec.node_name}/{status.host_ip}" if spec.node_name and status.host_ip else spec.node_name or NONE)
    text.add(0, "Start Time", _time(status.start_time))
    text.add(0, "Status", pod_status(pod)[2])
    if status.reason:
        text.add(0, "Reason", status.reason)
    if status.message:
        text.add(0, "Message", status.message)
    text.add(0, "IP", status.pod_ip)
    if status.nominated_node_name:
        text.add(0, "Nominated Node", status.nominated_node_name)
    _containers(text, "Init Containers", spec.init_containers, status.init_container_statuses)
    _containers(text, "Containers", spec.containers, status.container_statuses)
    if spec.volumes:
        text.add(0, "Volumes")
        for v in spec.volumes:
            text.add(1, v.name)
            text.add(2, "Type", _title(v.WhichOneof("source") or "unknown"))
    text.add(0, "QoS Class", status.qos_class or NONE)
    text.add(0, "Node-Selectors", _map_lines(spec.node_selector))
    tolerations = [f"{t.key}{'=' + t.value if t.value else ''}:{t.effect or '*'}"
                   + (f" op={t.operator}" if t.operator == "Exists" else "") for t in spec.tolerations]
    text.add(0, "Tolerations", "\n".join(tolerations) or NONE)


def _replicated(obj, text: _Text) -> None:
    from shoal.control.cli_verbs.tables import label_selector_text

    spec, status = obj.spec, obj.status
    desired = spec.replicas if spec.HasField("replicas") else 1
    text.add(0, "Selector", label_selector_text(spec.selector))
    if obj.DESCRIPTOR.name == "Deployment":
        unavailable = status.unavailable_replicas
        text.add(0, "Replicas", f"{desired} desired | {status.updated_replicas} updated | {status.replicas} total | "
                                f"{status.available_replicas} available | {unavailable} unavailable")
        text.add(0, "StrategyType", spec.strategy.type or "RollingUpdate")
        text.add(0, "MinReadySeconds", spec.min_ready_seconds)
        ru = spec.strategy.rolling_update
        if (spec.strategy.type or "RollingUpdate") == "RollingUpdate":
            def iors(v, default="25%"):
                which = v.WhichOneof("value")
                return default if which is None else str(getattr(v, which))
            text.add(0, "RollingUpdateStrategy", f"{iors(ru.max_unavailable)} max unavailable, {iors(ru.max_surge)} max surge")
    else:
        text.add(0, "Replicas", f"{status.replicas} current / {desired} desired")
        text.add(0, "Pods Status", f"{status.ready_replicas} Ready / {status.available_replicas} Available")
    text.add(0, "Pod Template")
    text.add(1, "Labels", _map_lines(spec.template.metadata.labels))
    _containers_nested(text, spec.template.spec)


def _containers_nested(text: _Text, pod_spec) -> None:
    text.add(1, "Containers")
    for c in pod_spec.containers:
        text.add(2, c.name)
        text.add(3, "Image", c.image)
        ports = ", ".join(f"{p.container_port}/{p.protocol or 'TCP'}" for p in c.ports)
        text.add(3, "Port" + ("s" if len(c.ports) > 1 else ""), ports or NONE)
        _resources(text, 3, c.resources)


def _service(svc, text: _Text) -> None:
    from shoal.control.cli_verbs.tables import map_selector_text

    spec = svc.spec
    text.add(0, "Selector", map_selector_text(spec.selector))
    text.add(0, "Type", spec.type or "ClusterIP")
    text.add(0, "IP", spec.cluster_ip or NONE)
    if spec.external_name:
        text.add(0, "External Name", spec.external_name)
    for p in spec.ports:
        target = p.target_port.WhichOneof("value")
        text.add(0, "Port", f"{p.name or '<unset>'}  {p.port}/{p.protocol or 'TCP'}")
        text.add(0, "TargetPort", f"{getattr(p.target_port, target) if target else p.port}/{p.protocol or 'TCP'}")
        if p.node_port:
            text.add(0, "NodePort", f"{p.name or '<unset>'}  {p.node_port}/{p.protocol or 'TCP'}")
    text.add(0, "Session Affinity", spec.session_affinity or "None")


def _node(node, text: _Text) -> None:
    from shoal.control.cli_verbs.tables import node_roles

    spec, status = node.spec, node.status
    text.add(0, "Roles", node_roles(node))
    taints = [f"{t.key}{'=' + t.value if t.value else ''}:{t.effect}" for t in spec.taints]
    text.add(0, "Taints", "\n".join(taints) or NONE)
    text.add(0, "Unschedulable", "true" if spec.unschedulable else "false")
    if status.addresses:
        text.add(0, "Addresses")
        for a in status.addresses:
            text.add(1, a.type, a.address)
    for title, values in (("Capacity", status.capacity), ("Allocatable", status.allocatable)):
        if values:
            text.add(0, title)
            for k, v in sorted(values.items()):
                text.add(1, k, v)
    info = status.node_info
    if info.ListFields():
        text.add(0, "System Info")
        for key, value in (("Machine ID", info.machine_id), ("Kernel Version", info.kernel_version),
                           ("OS Image", info.os_image), ("Operating System", info.operating_system),
                           ("Architecture", info.architecture),
                           ("Container Runtime Version", info.container_runtime_version),
                           ("Kubelet Version", info.kubelet_version)):
            if value:
                text.add(1, key, value)
    if spec.pod_cidr:
        text.add(0, "PodCIDR", spec.pod_cidr)


_DESCRIBERS = {
    "Pod": _pod,
    "Deployment": _replicated,
    "ReplicaSet": _replicated,
    "Service": _service,
    "Node": _node,
}
