"""Deployment, ReplicaSet and Job: replica counts, selectors that match their template, the
template as a pod spec, rollout strategy and job policies."""

from __future__ import annotations

import re

from shoal.control.api.validation.fielderrors import (
    forbidden,
    immutable,
    invalid,
    required,
    unsupported,
)
from shoal.control.api.validation.meta import (
    selector_is_empty,
    selector_matches,
    validate_label_selector,
)
from shoal.control.api.validation.names import LABEL_VALUE_MAX, qualified_name_problem
from shoal.control.api.validation.pod import validate_pod_template

STRATEGY_TYPES = ("Recreate", "RollingUpdate")
COMPLETION_MODES = ("Indexed", "NonIndexed")
JOB_RESTART_POLICIES = ("OnFailure", "Never")
POD_REPLACEMENT_POLICIES = ("Failed", "TerminatingOrFailed")
FAILURE_ACTIONS = ("Count", "FailIndex", "FailJob", "Ignore")
CONDITION_STATUSES = ("False", "True", "Unknown")
NOT_MATCHING = "selector does not match template labels"
_percent = re.compile("[0-9]{1,9}%").fullmatch


def _non_negative(msg, field: str, path: str, errs: list[str]) -> None:
    if msg.HasField(field) and getattr(msg, field) < 0:
        errs.append(invalid(path, getattr(msg, field), "must be greater than or equal to 0"))


def _validate_selector_and_template(spec, kind: str, errs: list[str], *, selector_required: bool = True) -> None:
    """The selector is required, non-empty, valid and selects the template's labels."""
    if not spec.HasField("selector"):
        if selector_required:
            errs.append(required("spec.selector"))
        return
    selector = spec.selector
    if selector_is_empty(selector):
        errs.append(invalid("spec.selector", {}, f"empty selector is invalid for {kind}"))
        return
    before = len(errs)
    validate_label_selector(selector, "spec.selector", errs)
    if len(errs) == before and not selector_matches(selector, spec.template.metadata.labels):
        errs.append(invalid("spec.template.metadata.labels", spec.template.metadata.labels, NOT_MATCHING))


def _validate_replicated_template(spec, kind: str, errs: list[str]) -> None:
    _non_negative(spec, "replicas", "spec.replicas", errs)
    if spec.min_ready_seconds < 0:
        errs.append(invalid("spec.minReadySeconds", spec.min_ready_seconds, "must be greater than or equal to 0"))
    _validate_selector_and_template(spec, kind, errs)
    if not spec.HasField("template"):
        errs.append(required("spec.template"))
        return
    validate_pod_template(spec.template, "spec.template", errs, ("Always",))
    if spec.template.spec.HasField("active_deadline_seconds"):
        errs.append(forbidden("spec.template.spec.activeDeadlineSeconds", "activeDeadlineSeconds in ReplicaSet is not Supported"))


def _selector_immutable(msg, old, errs: list[str]) -> None:
    if old is not None and msg.spec.selector != old.spec.selector:
        errs.append(immutable("spec.selector", dict(msg.spec.selector.match_labels)))


def validate_replica_set(msg, old, errs: list[str]) -> None:
    _validate_replicated_template(msg.spec, "replicaset", errs)
    _selector_immutable(msg, old, errs)


def _int_or_percent(value, path: str, errs: list[str], *, at_most_100: bool) -> int | None:
    """The number (of pods, or percent) an IntOrString bound holds; None if it is invalid."""
    which = value.WhichOneof("value")
    if which == "str_val":
        text = value.str_val
        if not _percent(text):
            errs.append(invalid(path, text, "must be an integer or percentage (e.g '5%', '10')"))
            return None
        percent = int(text[:-1])
        if at_most_100 and percent > 100:
            errs.append(invalid(path, text, "must not be greater than 100%"))
            return None
        return percent
    number = value.int_val
    if number < 0:
        errs.append(invalid(path, number, "must be greater than or equal to 0"))
        return None
    return number


def validate_deployment(msg, old, errs: list[str]) -> None:
    spec = msg.spec
    _validate_replicated_template(spec, "deployment", errs)
    strategy = spec.strategy
    if strategy.type not in STRATEGY_TYPES:
        errs.append(required("spec.strategy.type") if not strategy.type
                    else unsupported("spec.strategy.type", strategy.type, STRATEGY_TYPES))
    elif strategy.type == "Recreate":
        if strategy.HasField("rolling_update"):
            errs.append(forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'"))
    else:
        rolling = strategy.rolling_update
        p = "spec.strategy.rollingUpdate"
        unavailable = _int_or_percent(rolling.max_unavailable, p + ".maxUnavailable", errs, at_most_100=True)
        surge = _int_or_percent(rolling.max_surge, p + ".maxSurge", errs, at_most_100=False)
        if unavailable == 0 and surge == 0:
            errs.append(invalid(p + ".maxUnavailable", 0, "may not be 0 when `maxSurge` is 0"))
    _non_negative(spec, "revision_history_limit", "spec.revisionHistoryLimit", errs)
    if spec.HasField("progress_deadline_seconds"):
        deadline = spec.progress_deadline_seconds
        if deadline < 0:
            errs.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than or equal to 0"))
        elif deadline <= spec.min_ready_seconds:
            errs.append(invalid("spec.progressDeadlineSeconds", deadline, "must be greater than minReadySeconds"))
    _selector_immutable(msg, old, errs)


def validate_job(msg, old, errs: list[str]) -> None:
    spec = msg.spec
    if len(msg.metadata.name) > LABEL_VALUE_MAX:
        # Its pods carry the name as the value of the job-name label.
        errs.append(invalid("metadata.name", msg.metadata.name, f"must be no more than {LABEL_VALUE_MAX} characters"))
    for field, json_name in (("parallelism", "parallelism"), ("completions", "completions"),
                             ("active_deadline_seconds", "activeDeadlineSeconds"), ("backoff_limit", "backoffLimit"),
                             ("ttl_seconds_after_finished", "ttlSecondsAfterFinished"),
                             ("backoff_limit_per_index", "backoffLimitPerIndex"),
                             ("max_failed_indexes", "maxFailedIndexes")):
        _non_negative(spec, field, f"spec.{json_name}", errs)
    mode = spec.completion_mode if spec.HasField("completion_mode") else "NonIndexed"
    if mode not in COMPLETION_MODES:
        errs.append(unsupported("spec.completionMode", mode, COMPLETION_MODES))
    elif mode == "Indexed" and not spec.HasField("completions"):
        errs.append(required("spec.completions", "when completion mode is Indexed"))
    if spec.HasField("backoff_limit_per_index") and mode != "Indexed":
        errs.append(forbidden("spec.backoffLimitPerIndex", "requires indexed completion mode"))
    if spec.HasField("max_failed_indexes") and not spec.HasField("backoff_limit_per_index"):
        errs.append(required("spec.backoffLimitPerIndex", "when maxFailedIndexes is specified"))
    manual = spec.HasField("manual_selector") and spec.manual_selector
    _validate_selector_and_template(spec, "job", errs, selector_required=manual)
    if not spec.HasField("template"):
        errs.append(required("spec.template"))
    else:
        validate_pod_template(spec.template, "spec.template", errs, JOB_RESTART_POLICIES)
    if spec.HasField("pod_failure_policy"):
        _validate_pod_failure_policy(spec, errs)
    if spec.HasField("pod_replacement_policy"):
        policy = spec.pod_replacement_policy
        if policy not in POD_REPLACEMENT_POLICIES:
            errs.append(unsupported("spec.podReplacementPolicy", policy, POD_REPLACEMENT_POLICIES))
        elif spec.HasField("pod_failure_policy") and policy != "Failed":
            errs.append(unsupported("spec.podReplacementPolicy", policy, ("Failed",)))
    if old is not None:
        _validate_job_update(spec, old.spec, errs)


def _validate_pod_failure_policy(spec, errs: list[str]) -> None:
    p = "spec.podFailurePolicy"
    if spec.template.spec.restart_policy != "Never":
        errs.append(invalid("spec.template.spec.restartPolicy", spec.template.spec.restart_policy,
                            "only \"Never\" is supported when podFailurePolicy is specified"))
    for i, rule in enumerate(spec.pod_failure_policy.rules):
        rp = f"{p}.rules[{i}]"
        if rule.action not in FAILURE_ACTIONS:
            errs.append(unsupported(rp + ".action", rule.action, FAILURE_ACTIONS))
        elif rule.action == "FailIndex" and not spec.HasField("backoff_limit_per_index"):
            errs.append(forbidden(rp + ".action", "requires the backoffLimitPerIndex to be set"))
        has_codes, conditions = rule.HasField("on_exit_codes"), rule.on_pod_conditions
        if has_codes == bool(conditions):
            errs.append(invalid(rp, "", "specifying one of OnExitCodes and OnPodConditions is required"))
        if has_codes:
            codes = rule.on_exit_codes
            if codes.operator not in ("In", "NotIn"):
                errs.append(unsupported(rp + ".onExitCodes.operator", codes.operator, ("In", "NotIn")))
            if not codes.values:
                errs.append(required(rp + ".onExitCodes.values"))
            elif len(codes.values) > 255:
                errs.append(invalid(rp + ".onExitCodes.values", len(codes.values), "must have at most 255 elements"))
            if len(set(codes.values)) != len(codes.values):
                errs.append(invalid(rp + ".onExitCodes.values", list(codes.values), "must not contain duplicates"))
            elif list(codes.values) != sorted(codes.values):
                errs.append(invalid(rp + ".onExitCodes.values", list(codes.values), "must be ordered"))
            if codes.operator == "In" and 0 in codes.values:
                errs.append(invalid(rp + ".onExitCodes.values", 0, "must not be 0 for the In operator"))
        for j, pattern in enumerate(conditions):
            problem = qualified_name_problem(pattern.type)
            if problem:
                errs.append(invalid(f"{rp}.onPodConditions[{j}].type", pattern.type, problem))
            if pattern.status not in CONDITION_STATUSES:
                errs.append(unsupported(f"{rp}.onPodConditions[{j}].status", pattern.status, CONDITION_STATUSES))


def _validate_job_update(new, old, errs: list[str]) -> None:
    if new.selector != old.selector:
        errs.append(immutable("spec.selector", dict(new.selector.match_labels)))
    if new.completion_mode != old.completion_mode:
        errs.append(immutable("spec.completionMode", new.completion_mode))
    if new.completions != old.completions or new.HasField("completions") != old.HasField("completions"):
        elastic = new.completion_mode == "Indexed" and new.completions == new.parallelism
        if not elastic:
            errs.append(immutable("spec.completions", new.completions))
    suspended = old.HasField("suspend") and old.suspend
    if not suspended and new.template != old.template:
        errs.append(immutable("spec.template", "..."))
