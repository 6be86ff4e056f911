"""Security contexts of pods and containers: ids in range, known profile types."""

from __future__ import annotations

from shoal.control.api.validation.fielderrors import (
    duplicate,
    invalid,
    required,
    unsupported,
)

PROC_MOUNTS = ("Default", "Unmasked")
SECCOMP_TYPES = ("Localhost", "RuntimeDefault", "Unconfined")
FS_GROUP_CHANGE_POLICIES = ("Always", "OnRootMismatch")
ID_RANGE_MSG = "must be between 0 and 2147483647, inclusive"
_INT32_MAX = 2**31 - 1


def check_id(value: int, path: str, errs: list[str]) -> None:
    if not 0 <= value <= _INT32_MAX:
        errs.append(invalid(path, value, ID_RANGE_MSG))


def validate_seccomp(profile, p: str, errs: list[str]) -> None:
    if profile.type not in SECCOMP_TYPES:
        errs.append(required(p + ".type") if not profile.type else unsupported(p + ".type", profile.type, SECCOMP_TYPES))
    elif profile.type == "Localhost":
        if not profile.HasField("localhost_profile") or not profile.localhost_profile:
            errs.append(required(p + ".localhostProfile", "must be set when seccomp type is Localhost"))
    elif profile.HasField("localhost_profile"):
        errs.append(invalid(p + ".localhostProfile", profile.localhost_profile, "can only be set when seccomp type is Localhost"))


def validate_container_security_context(sc, p: str, errs: list[str]) -> None:
    if sc.HasField("run_as_user"):
        check_id(sc.run_as_user, p + ".runAsUser", errs)
    if sc.HasField("run_as_group"):
        check_id(sc.run_as_group, p + ".runAsGroup", errs)
    if sc.HasField("proc_mount") and sc.proc_mount not in PROC_MOUNTS:
        errs.append(unsupported(p + ".procMount", sc.proc_mount, PROC_MOUNTS))
    if sc.HasField("seccomp_profile"):
        validate_seccomp(sc.seccomp_profile, p + ".seccompProfile", errs)
    if sc.HasField("app_armor_profile"):
        validate_seccomp(sc.app_armor_profile, p + ".appArmorProfile", errs)
    if (sc.HasField("allow_privilege_escalation") and not sc.allow_privilege_escalation
            and sc.HasField("privileged") and sc.privileged):
        errs.append(invalid(p, "", "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))


def validate_pod_security_context(sc, p: str, errs: list[str]) -> None:
    for field, json_name in (("run_as_user", "runAsUser"), ("run_as_group", "runAsGroup"), ("fs_group", "fsGroup")):
        if sc.HasField(field):
            check_id(getattr(sc, field), f"{p}.{json_name}", errs)
    for i, gid in enumerate(sc.supplemental_groups):
        check_id(gid, f"{p}.supplementalGroups[{i}]", errs)
    if sc.HasField("fs_group_change_policy") and sc.fs_group_change_policy not in FS_GROUP_CHANGE_POLICIES:
        errs.append(unsupported(p + ".fsGroupChangePolicy", sc.fs_group_change_policy, FS_GROUP_CHANGE_POLICIES))
    seen = set()
    for i, sysctl in enumerate(sc.sysctls):
        if not sysctl.name:
            errs.append(required(f"{p}.sysctls[{i}].name"))
        elif sysctl.name in seen:
            errs.append(duplicate(f"{p}.sysctls[{i}].name", sysctl.name))
        seen.add(sysctl.name)
    if sc.HasField("seccomp_profile"):
        validate_seccomp(sc.seccomp_profile, p + ".seccompProfile", errs)
    if sc.HasField("app_armor_profile"):
        validate_seccomp(sc.app_armor_profile, p + ".appArmorProfile", errs)
