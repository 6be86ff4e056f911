"""Defaults of Deployment, ReplicaSet and Job (Kubernetes' apps/v1 and batch/v1 defaults.go)."""

from __future__ import annotations

from shoal.control.api.defaulting.pod import default_pod_spec

DEFAULT_MAX_SURGE = "25%"
DEFAULT_MAX_UNAVAILABLE = "25%"
DEFAULT_REVISION_HISTORY_LIMIT = 10
DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
DEFAULT_BACKOFF_LIMIT = 6
_INT32_MAX = 2**31 - 1


def _selector_from_template(spec) -> None:
    """An absent (or empty) selector selects the template's labels."""
    selector = spec.selector
    labels = spec.template.metadata.labels
    if labels and not selector.match_labels and not selector.match_expressions:
        selector.match_labels.update(labels)


def default_replica_set(rs) -> None:
    spec = rs.spec
    if not spec.HasField("replicas"):
        spec.replicas = 1
    _selector_from_template(spec)
    default_pod_spec(spec.template.spec)


def default_deployment(deployment) -> None:
    spec = deployment.spec
    if not spec.HasField("replicas"):
        spec.replicas = 1
    strategy = spec.strategy
    if not strategy.type:
        strategy.type = "RollingUpdate"
    if strategy.type == "RollingUpdate":
        rolling = strategy.rolling_update
        if rolling.max_unavailable.WhichOneof("value") is None:
            rolling.max_unavailable.str_val = DEFAULT_MAX_UNAVAILABLE
        if rolling.max_surge.WhichOneof("value") is None:
            rolling.max_surge.str_val = DEFAULT_MAX_SURGE
    if not spec.HasField("revision_history_limit"):
        spec.revision_history_limit = DEFAULT_REVISION_HISTORY_LIMIT
    if not spec.HasField("progress_deadline_seconds"):
        spec.progress_deadline_seconds = DEFAULT_PROGRESS_DEADLINE_SECONDS
    _selector_from_template(spec)
    default_pod_spec(spec.template.spec)


def default_job(job) -> None:
    """As batch/v1: one pod at a time and one completion when neither is set, six retries,
    NonIndexed; the selector is left to the job controller and the template's restartPolicy
    to the user (it must be Never or OnFailure)."""
    spec = job.spec
    if not spec.HasField("completions") and not spec.HasField("parallelism"):
        spec.completions = 1
    if not spec.HasField("parallelism"):
        spec.parallelism = 1
    if not spec.HasField("backoff_limit"):
        spec.backoff_limit = _INT32_MAX if spec.HasField("backoff_limit_per_index") else DEFAULT_BACKOFF_LIMIT
    if not spec.HasField("completion_mode"):
        spec.completion_mode = "NonIndexed"
    if not spec.HasField("suspend"):
        spec.suspend = False
    if spec.HasField("pod_failure_policy"):
        for rule in spec.pod_failure_policy.rules:
            for pattern in rule.on_pod_conditions:
                if not pattern.status:
                    pattern.status = "True"
    if not spec.HasField("pod_replacement_policy"):
        spec.pod_replacement_policy = "Failed" if spec.HasField("pod_failure_policy") else "TerminatingOrFailed"
    template_labels = spec.template.metadata.labels
    if template_labels and not job.metadata.labels:
        job.metadata.labels.update(
            {k: v for k, v in template_labels.items() if k not in _JOB_GENERATED_LABELS}
        )
    _generate_job_selector(job)
    default_pod_spec(spec.template.spec, restart_policy=False)


_JOB_GENERATED_LABELS = (
    "batch.kubernetes.io/controller-uid",
    "batch.kubernetes.io/job-name",
    "controller-uid",
    "job-name",
)


def _generate_job_selector(job) -> None:
    """As the API server does on create (unless spec.manualSelector): select the Job's own pods
    by its uid, and put the matching labels on the template. Needs metadata.uid, so it applies
    on create only (the uid is set before defaulting); later updates keep what was generated."""
    spec = job.spec
    uid = job.metadata.uid
    if spec.manual_selector or not uid or spec.HasField("selector"):
        return
    labels = spec.template.metadata.labels
    for key, value in (
        ("batch.kubernetes.io/controller-uid", uid),
        ("batch.kubernetes.io/job-name", job.metadata.name),
        ("controller-uid", uid),
        ("job-name", job.metadata.name),
    ):
        labels.setdefault(key, value)
    spec.selector.match_labels["batch.kubernetes.io/controller-uid"] = uid
