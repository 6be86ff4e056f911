"""PersistentVolume and PersistentVolumeClaim (and the claim spec of ephemeral volumes)."""

from __future__ import annotations

from shoal.control.api.validation.fielderrors import (
    forbidden,
    invalid,
    required,
    unsupported,
)
from shoal.control.api.validation.meta import (
    validate_dns_subdomain_field,
    validate_label_selector,
)
from shoal.control.api.validation.placement import validate_node_selector
from shoal.control.api.validation.quantities import (
    QUANTITY_MSG,
    check_quantity_map,
    nano,
)

ACCESS_MODES = ("ReadOnlyMany", "ReadWriteMany", "ReadWriteOnce", "ReadWriteOncePod")
VOLUME_MODES = ("Block", "Filesystem")
RECLAIM_POLICIES = ("Delete", "Recycle", "Retain")
PV_SOURCE_JSON = {"host_path": "hostPath", "nfs": "nfs", "local": "local", "csi": "csi"}


def _validate_access_modes(modes, p: str, errs: list[str]) -> None:
    if not modes:
        errs.append(required(p, "at least 1 access mode is required"))
        return
    for mode in modes:
        if mode not in ACCESS_MODES:
            errs.append(unsupported(p, mode, ACCESS_MODES))
    if "ReadWriteOncePod" in modes and len(modes) > 1:
        errs.append(forbidden(p, "may not use ReadWriteOncePod with other access modes"))


def _validate_storage_quantity(quantities, p: str, errs: list[str]) -> None:
    """``quantities`` must hold a positive "storage"; ``p`` is the map's path."""
    if "storage" not in quantities:
        errs.append(required(p + ".storage"))
    else:
        text = quantities["storage"]
        value = nano(text)
        if value is None:
            errs.append(invalid(p + ".storage", text, QUANTITY_MSG))
        elif value <= 0:
            errs.append(invalid(p + ".storage", text, "must be greater than zero"))
    if len(quantities) > 1:
        check_quantity_map({k: v for k, v in quantities.items() if k != "storage"}, p, errs)


def validate_pvc_spec(spec, p: str, errs: list[str]) -> None:
    _validate_access_modes(spec.access_modes, p + ".accessModes", errs)
    if spec.HasField("selector"):
        validate_label_selector(spec.selector, p + ".selector", errs)
    _validate_storage_quantity(spec.resources.requests, p + ".resources.requests", errs)
    if spec.resources.limits:
        check_quantity_map(spec.resources.limits, p + ".resources.limits", errs)
    if spec.HasField("volume_mode") and spec.volume_mode not in VOLUME_MODES:
        errs.append(unsupported(p + ".volumeMode", spec.volume_mode, VOLUME_MODES))
    if spec.HasField("storage_class_name") and spec.storage_class_name:
        validate_dns_subdomain_field(spec.storage_class_name, p + ".storageClassName", errs)
    if spec.volume_name:
        validate_dns_subdomain_field(spec.volume_name, p + ".volumeName", errs)
    if spec.HasField("data_source"):
        source = spec.data_source
        if not source.name:
            errs.append(required(p + ".dataSource.name"))
        if not source.kind:
            errs.append(required(p + ".dataSource.kind"))
        elif not source.api_group and source.kind != "PersistentVolumeClaim":
            errs.append(invalid(p + ".dataSource.kind", source.kind,
                                "must be 'PersistentVolumeClaim' when referencing the default apiGroup"))
    if spec.HasField("data_source_ref"):
        ref = spec.data_source_ref
        if not ref.name:
            errs.append(required(p + ".dataSourceRef.name"))
        if not ref.kind:
            errs.append(required(p + ".dataSourceRef.kind"))


def validate_pvc(msg, old, errs: list[str]) -> None:
    validate_pvc_spec(msg.spec, "spec", errs)
    if old is None:
        return
    new_spec, old_spec = type(msg.spec)(), type(msg.spec)()
    new_spec.CopyFrom(msg.spec)
    old_spec.CopyFrom(old.spec)
    for spec in (new_spec, old_spec):
        spec.resources.ClearField("requests")
        spec.ClearField("volume_attributes_class_name")
    if not old_spec.volume_name:
        new_spec.volume_name = ""
    if new_spec.SerializeToString(deterministic=True) != old_spec.SerializeToString(deterministic=True):
        errs.append(forbidden("spec", "spec is immutable after creation except resources.requests and "
                                      "volumeAttributesClassName for bound claims"))
    capacity = old.status.capacity.get("storage")
    requested = msg.spec.resources.requests.get("storage")
    old_requested = old.spec.resources.requests.get("storage")
    if capacity and requested and old_requested:
        # Only a shrinking request is checked (as Kubernetes does): a claim bound to a volume
        # larger than it asked for must stay updatable (finalizers, labels).
        have, want, had = nano(capacity), nano(requested), nano(old_requested)
        if have is not None and want is not None and had is not None and want < had and want < have:
            errs.append(forbidden("spec.resources.requests.storage", "field can not be less than status.capacity"))


def validate_pv(msg, old, errs: list[str]) -> None:
    spec = msg.spec
    if not spec.capacity:
        errs.append(required("spec.capacity.storage"))
    else:
        _validate_storage_quantity(spec.capacity, "spec.capacity", errs)
    source = spec.WhichOneof("source")
    if source is None:
        errs.append(required("spec", "must specify a volume type"))
    elif source == "host_path":
        if not spec.host_path.path:
            errs.append(required("spec.hostPath.path"))
    elif source == "nfs":
        if not spec.nfs.server:
            errs.append(required("spec.nfs.server"))
        if not spec.nfs.path.startswith("/"):
            errs.append(invalid("spec.nfs.path", spec.nfs.path, "must be an absolute path"))
    elif source == "local":
        if not spec.local.path:
            errs.append(required("spec.local.path"))
        if not spec.HasField("node_affinity"):
            errs.append(required("spec.nodeAffinity", "Local volume requires node affinity"))
    elif source == "csi":
        if not spec.csi.driver:
            errs.append(required("spec.csi.driver"))
        if not spec.csi.volume_handle:
            errs.append(required("spec.csi.volumeHandle"))
    _validate_access_modes(spec.access_modes, "spec.accessModes", errs)
    policy = spec.persistent_volume_reclaim_policy
    if policy not in RECLAIM_POLICIES:
        errs.append(unsupported("spec.persistentVolumeReclaimPolicy", policy, RECLAIM_POLICIES))
    elif policy == "Recycle" and source not in ("host_path", "nfs", None):
        errs.append(forbidden("spec.persistentVolumeReclaimPolicy",
                              "may not be 'Recycle' for a volume source other than hostPath and nfs"))
    if spec.HasField("volume_mode") and spec.volume_mode not in VOLUME_MODES:
        errs.append(unsupported("spec.volumeMode", spec.volume_mode, VOLUME_MODES))
    if spec.storage_class_name:
        validate_dns_subdomain_field(spec.storage_class_name, "spec.storageClassName", errs)
    if spec.HasField("node_affinity"):
        if not spec.node_affinity.HasField("required"):
            errs.append(required("spec.nodeAffinity.required"))
        else:
            validate_node_selector(spec.node_affinity.required, "spec.nodeAffinity.required", errs)
    if spec.HasField("claim_ref") and not spec.claim_ref.name:
        errs.append(required("spec.claimRef.name"))
    if old is not None:
        old_source = old.spec.WhichOneof("source")
        if old_source != source or (source is not None and getattr(spec, source) != getattr(old.spec, source)):
            errs.append(forbidden("spec.persistentvolumesource", "spec.persistentvolumesource is immutable after creation"))
