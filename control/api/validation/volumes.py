"""A pod's volumes: unique DNS-label names and exactly one valid source each."""

from __future__ import annotations

from shoal.control.api.validation.containers import (
    relative_path_problem,
    validate_object_field_selector,
    validate_resource_field_selector,
)
from shoal.control.api.validation.fielderrors import (
    duplicate,
    invalid,
    required,
    unsupported,
)
from shoal.control.api.validation.meta import validate_annotations, validate_labels
from shoal.control.api.validation.names import config_key_problem, dns1123_label_problem
from shoal.control.api.validation.quantities import QUANTITY_MSG, nano
from shoal.control.api.validation.storage import validate_pvc_spec

HOST_PATH_TYPES = ("", "BlockDevice", "CharDevice", "Directory", "DirectoryOrCreate", "File", "FileOrCreate", "Socket")
PULL_POLICIES = ("Always", "IfNotPresent", "Never")
MODE_MSG = "must be a number between 0 and 0777 (octal), both inclusive"
_MAX_MODE = 0o777
# Volume.source oneof field -> JSON name.
SOURCE_JSON = {
    "host_path": "hostPath", "empty_dir": "emptyDir", "secret": "secret", "nfs": "nfs",
    "persistent_volume_claim": "persistentVolumeClaim", "downward_api": "downwardAPI",
    "config_map": "configMap", "projected": "projected", "csi": "csi", "ephemeral": "ephemeral",
    "image": "image",
}


def validate_volumes(volumes, path: str, errs: list[str]) -> dict[str, str]:
    """Returns the volumes by name, each with the oneof field of its source ("" if none)."""
    by_name: dict[str, str] = {}
    for i, volume in enumerate(volumes):
        p = f"{path}[{i}]"
        name = volume.name
        source = volume.WhichOneof("source") or ""
        if not name:
            errs.append(required(p + ".name"))
        elif name in by_name:
            errs.append(duplicate(p + ".name", name))
        else:
            problem = dns1123_label_problem(name)
            if problem:
                errs.append(invalid(p + ".name", name, problem))
            by_name[name] = source
        if not source:
            errs.append(required(p, "must specify a volume type"))
            continue
        check = _SOURCE_CHECKS.get(source)
        if check is not None:
            check(getattr(volume, source), f"{p}.{SOURCE_JSON[source]}", errs)
    return by_name


def _host_path(src, p: str, errs: list[str]) -> None:
    if not src.path:
        errs.append(required(p + ".path"))
    elif ".." in src.path.split("/"):
        errs.append(invalid(p + ".path", src.path, "must not contain '..'"))
    if src.HasField("type") and src.type not in HOST_PATH_TYPES:
        errs.append(unsupported(p + ".type", src.type, HOST_PATH_TYPES))


def _empty_dir(src, p: str, errs: list[str]) -> None:
    medium = src.medium
    if medium not in ("", "Memory", "HugePages") and not medium.startswith("HugePages-"):
        errs.append(unsupported(p + ".medium", medium, ("", "HugePages", "Memory")))
    if src.size_limit:
        value = nano(src.size_limit)
        if value is None:
            errs.append(invalid(p + ".sizeLimit", src.size_limit, QUANTITY_MSG))
        elif value < 0:
            errs.append(invalid(p + ".sizeLimit", src.size_limit, "must be greater than or equal to 0"))


def check_mode(msg, field: str, p: str, errs: list[str]) -> None:
    if msg.HasField(field):
        mode = getattr(msg, field)
        if not 0 <= mode <= _MAX_MODE:
            errs.append(invalid(p, mode, MODE_MSG))


def _key_to_paths(items, p: str, errs: list[str]) -> None:
    for i, item in enumerate(items):
        if not item.key:
            errs.append(required(f"{p}[{i}].key"))
        else:
            problem = config_key_problem(item.key)
            if problem:
                errs.append(invalid(f"{p}[{i}].key", item.key, problem))
        _file_path(item.path, f"{p}[{i}].path", errs)
        check_mode(item, "mode", f"{p}[{i}].mode", errs)


def _file_path(path: str, p: str, errs: list[str]) -> None:
    if not path:
        errs.append(required(p))
        return
    problem = relative_path_problem(path)
    if problem:
        errs.append(invalid(p, path, problem))


def _secret(src, p: str, errs: list[str]) -> None:
    if not src.secret_name:
        errs.append(required(p + ".secretName"))
    _key_to_paths(src.items, p + ".items", errs)
    check_mode(src, "default_mode", p + ".defaultMode", errs)


def _config_map(src, p: str, errs: list[str]) -> None:
    if not src.name:
        errs.append(required(p + ".name"))
    _key_to_paths(src.items, p + ".items", errs)
    check_mode(src, "default_mode", p + ".defaultMode", errs)


def _nfs(src, p: str, errs: list[str]) -> None:
    if not src.server:
        errs.append(required(p + ".server"))
    if not src.path:
        errs.append(required(p + ".path"))
    elif not src.path.startswith("/"):
        errs.append(invalid(p + ".path", src.path, "must be an absolute path"))


def _pvc(src, p: str, errs: list[str]) -> None:
    if not src.claim_name:
        errs.append(required(p + ".claimName"))


def _downward_files(items, p: str, errs: list[str]) -> None:
    for i, item in enumerate(items):
        _file_path(item.path, f"{p}[{i}].path", errs)
        has_field, has_resource = item.HasField("field_ref"), item.HasField("resource_field_ref")
        if has_field and has_resource:
            errs.append(invalid(f"{p}[{i}]", "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
        elif has_field:
            validate_object_field_selector(item.field_ref, f"{p}[{i}].fieldRef", errs, env=False)
        elif has_resource:
            validate_resource_field_selector(item.resource_field_ref, f"{p}[{i}].resourceFieldRef", errs, container_required=True)
        else:
            errs.append(required(f"{p}[{i}]", "one of fieldRef and resourceFieldRef is required"))
        check_mode(item, "mode", f"{p}[{i}].mode", errs)


def _downward_api(src, p: str, errs: list[str]) -> None:
    _downward_files(src.items, p + ".items", errs)
    check_mode(src, "default_mode", p + ".defaultMode", errs)


def _projected(src, p: str, errs: list[str]) -> None:
    check_mode(src, "default_mode", p + ".defaultMode", errs)
    for i, projection in enumerate(src.sources):
        pp = f"{p}.sources[{i}]"
        which = projection.WhichOneof("source")
        if which is None:
            errs.append(required(pp, "must specify exactly one projection source"))
        elif which in ("secret", "config_map"):
            ref = getattr(projection, which)
            sub = pp + (".secret" if which == "secret" else ".configMap")
            if not ref.name:
                errs.append(required(sub + ".name"))
            _key_to_paths(ref.items, sub + ".items", errs)
        elif which == "downward_api":
            _downward_files(projection.downward_api.items, pp + ".downwardAPI.items", errs)
        else:
            token = projection.service_account_token
            sub = pp + ".serviceAccountToken"
            _file_path(token.path, sub + ".path", errs)
            if token.HasField("expiration_seconds"):
                seconds = token.expiration_seconds
                if seconds < 600:
                    errs.append(invalid(sub + ".expirationSeconds", seconds, "may not specify a duration less than 10 minutes"))
                elif seconds > 1 << 32:
                    errs.append(invalid(sub + ".expirationSeconds", seconds, "may not specify a duration larger than 2^32 seconds"))


def _csi(src, p: str, errs: list[str]) -> None:
    if not src.driver:
        errs.append(required(p + ".driver"))
    elif len(src.driver) > 63:
        errs.append(invalid(p + ".driver", src.driver, "must be no more than 63 characters"))


def _ephemeral(src, p: str, errs: list[str]) -> None:
    if not src.HasField("volume_claim_template"):
        errs.append(required(p + ".volumeClaimTemplate"))
        return
    template = src.volume_claim_template
    tp = p + ".volumeClaimTemplate"
    if template.metadata.labels:
        validate_labels(template.metadata.labels, tp + ".metadata.labels", errs)
    if template.metadata.annotations:
        validate_annotations(template.metadata.annotations, tp + ".metadata.annotations", errs)
    validate_pvc_spec(template.spec, tp + ".spec", errs)


def _image(src, p: str, errs: list[str]) -> None:
    if not src.reference:
        errs.append(required(p + ".reference"))
    if src.pull_policy and src.pull_policy not in PULL_POLICIES:
        errs.append(unsupported(p + ".pullPolicy", src.pull_policy, PULL_POLICIES))


_SOURCE_CHECKS = {
    "host_path": _host_path, "empty_dir": _empty_dir, "secret": _secret, "config_map": _config_map,
    "nfs": _nfs, "persistent_volume_claim": _pvc, "downward_api": _downward_api,
    "projected": _projected, "csi": _csi, "ephemeral": _ephemeral, "image": _image,
}
