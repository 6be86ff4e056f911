"""Profiles from a KubeSchedulerConfiguration file, with kube-scheduler's merge rules.

    apiVersion: kubescheduler.config.k8s.io/v1
    kind: KubeSchedulerConfiguration
    profiles:
    - schedulerName: default-scheduler
      plugins:
        multiPoint: {enabled: [{name: X, weight: 2}], disabled: [{name: "*"}]}
        score:      {enabled: [...], disabled: [...]}      # and filter, preFilter, ...
      pluginConfig:
      - name: NodeResourcesFit
        args: {scoringStrategy: {type: MostAllocated, resources: [{name: cpu, weight: 1}]}}

Each extension point's list is the default profile's (v1 default_plugins.go: everything under
multiPoint) merged with the user's as mergePluginSet does (disabled "*" drops the defaults, a
re-enabled default keeps its place, new ones are appended), then multiPoint is expanded per
point (expandMultiPointPlugins: explicit overrides first, then multiPoint, then the rest).
Score weights come from score.enabled, then multiPoint.enabled; 0 means 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .interface import (
    BIND,
    EXTENSION_POINTS,
    QUEUE_SORT,
    SCORE,
    Plugin,
    PluginArgsError,
)
from .registry import REGISTRY, Factory

DEFAULT_SCHEDULER_NAME = "default-scheduler"
API_VERSIONS = ("kubescheduler.config.k8s.io/v1", "kubescheduler.config.k8s.io/v1beta3")
KIND = "KubeSchedulerConfiguration"
MULTI_POINT = "multiPoint"

# v1 getDefaultPlugins(): everything under multiPoint, in this order, with these weights.
DEFAULT_MULTI_POINT: tuple[tuple[str, int | None], ...] = (
    ("SchedulingGates", None),
    ("PrioritySort", None),
    ("NodeUnschedulable", None),
    ("NodeName", None),
    ("TaintToleration", 3),
    ("NodeAffinity", 2),
    ("NodePorts", None),
    ("NodeResourcesFit", 1),
    ("VolumeRestrictions", None),
    ("NodeVolumeLimits", None),
    ("VolumeBinding", None),
    ("VolumeZone", None),
    ("PodTopologySpread", 2),
    ("InterPodAffinity", 2),
    ("DefaultPreemption", None),
    ("NodeResourcesBalancedAllocation", 1),
    ("ImageLocality", 1),
    ("DefaultBinder", None),
)

# Top-level fields of KubeSchedulerConfiguration that offline placement reads or ignores.
_TOP_LEVEL = (
    "apiVersion", "kind", "profiles", "percentageOfNodesToScore", "parallelism", "leaderElection",
    "clientConnection", "healthzBindAddress", "metricsBindAddress", "enableProfiling",
    "enableContentionProfiling", "podInitialBackoffSeconds", "podMaxBackoffSeconds", "extenders",
    "delayCacheUntilActive",
)
_PROFILE_FIELDS = ("schedulerName", "plugins", "pluginConfig", "percentageOfNodesToScore")


class ConfigError(ValueError):
    """A scheduler configuration that cannot be used; the message names the field."""


@dataclass(frozen=True)
class PluginRef:
    name: str
    weight: int | None = None


@dataclass
class PluginSet:
    enabled: list[PluginRef] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)


@dataclass
class Profile:
    """One scheduler profile, with its plugins instantiated and ordered per extension point."""

    scheduler_name: str
    plugins: dict[str, Plugin]
    points: dict[str, list[Plugin]]
    weights: dict[str, int]
    percentage_of_nodes_to_score: int | None = None

    def at(self, point: str) -> list[Plugin]:
        return self.points.get(point, [])

    def plugin(self, name: str) -> Plugin | None:
        return self.plugins.get(name)

    @property
    def queue_sort(self) -> Plugin:
        return self.points[QUEUE_SORT][0]


# ---------------------------------------------------------------------------------------------
# Reading


def _plugin_set(value: Any, where: str) -> PluginSet:
    if value is None:
        return PluginSet()
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping with enabled / disabled")
    unknown = set(value) - {"enabled", "disabled"}
    if unknown:
        raise ConfigError(f"{where}: unknown field {min(unknown)!r}")
    out = PluginSet()
    for key in ("enabled", "disabled"):
        items = value.get(key) or []
        if not isinstance(items, list):
            raise ConfigError(f"{where}.{key}: expected a list")
        for i, item in enumerate(items):
            spot = f"{where}.{key}[{i}]"
            if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"]:
                raise ConfigError(f"{spot}: expected {{name: ..., weight: ...}}")
            if set(item) - {"name", "weight"}:
                raise ConfigError(f"{spot}: unknown field {min(set(item) - {'name', 'weight'})!r}")
            weight = item.get("weight")
            if weight is not None and (isinstance(weight, bool) or not isinstance(weight, int) or weight < 0):
                raise ConfigError(f"{spot}.weight: expected a non-negative integer")
            if key == "enabled":
                out.enabled.append(PluginRef(item["name"], weight))
            else:
                out.disabled.append(item["name"])
    return out


def default_plugin_sets() -> dict[str, PluginSet]:
    return {MULTI_POINT: PluginSet([PluginRef(n, w) for n, w in DEFAULT_MULTI_POINT])}


def merge_plugin_set(default: PluginSet, custom: PluginSet) -> PluginSet:
    """mergePluginSet (v1 default_plugins.go)."""
    disabled = list(custom.disabled) + list(default.disabled)
    disabled_set = set(disabled)
    custom_index = {p.name: i for i, p in enumerate(custom.enabled)}
    replaced: set[int] = set()
    enabled: list[PluginRef] = []
    if "*" not in disabled_set:
        for plugin in default.enabled:
            if plugin.name in disabled_set:
                continue
            if plugin.name in custom_index:
                replaced.add(custom_index[plugin.name])
                plugin = custom.enabled[custom_index[plugin.name]]
            enabled.append(plugin)
    enabled += [p for i, p in enumerate(custom.enabled) if i not in replaced]
    return PluginSet(enabled, disabled)


def build_profile(doc: Mapping[str, Any] | None, where: str = "profiles[0]",
                  registry: Mapping[str, Factory] = REGISTRY, percentage: int | None = None) -> Profile:
    """A Profile from one entry of `profiles` (None: the default profile)."""
    doc = doc or {}
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{where}: expected a mapping")
    unknown = set(doc) - set(_PROFILE_FIELDS)
    if unknown:
        raise ConfigError(f"{where}: unknown field {min(unknown)!r}")
    name = doc.get("schedulerName", DEFAULT_SCHEDULER_NAME) or DEFAULT_SCHEDULER_NAME
    plugins_doc = doc.get("plugins") or {}
    if not isinstance(plugins_doc, Mapping):
        raise ConfigError(f"{where}.plugins: expected a mapping")
    for point in plugins_doc:
        if point not in EXTENSION_POINTS and point != MULTI_POINT:
            raise ConfigError(f"{where}.plugins: unknown extension point {point!r}")
    defaults = default_plugin_sets()
    sets = {
        point: merge_plugin_set(defaults.get(point, PluginSet()), _plugin_set(plugins_doc.get(point), f"{where}.plugins.{point}"))
        for point in (MULTI_POINT, *EXTENSION_POINTS)
    }
    args = _plugin_args(doc.get("pluginConfig"), f"{where}.pluginConfig")

    instances: dict[str, Plugin] = {}
    profile = Profile(name, instances, {}, {}, doc.get("percentageOfNodesToScore", percentage))
    for point, pset in sets.items():
        for i, ref in enumerate(pset.enabled):
            if ref.name in instances:
                continue
            factory = registry.get(ref.name)
            if factory is None:
                known = ", ".join(sorted(registry))
                raise ConfigError(f"{where}.plugins.{point}.enabled[{i}].name: unknown plugin {ref.name!r} (known: {known})")
            try:
                instances[ref.name] = factory(args.get(ref.name), profile)
            except PluginArgsError as exc:
                raise ConfigError(f"{where}.pluginConfig: {exc}") from None

    for point in EXTENSION_POINTS:
        profile.points[point] = _expand(point, sets[point], sets[MULTI_POINT], instances, where)
    profile.weights = _score_weights(profile, sets[SCORE].enabled + sets[MULTI_POINT].enabled)
    if len(profile.points[QUEUE_SORT]) != 1:
        raise ConfigError(f"{where}.plugins: exactly one queueSort plugin must be enabled, got {len(profile.points[QUEUE_SORT])}")
    if not profile.points[BIND]:
        raise ConfigError(f"{where}.plugins: at least one bind plugin must be enabled")
    return profile


def _expand(point: str, pset: PluginSet, multi: PluginSet, instances: dict[str, Plugin], where: str) -> list[Plugin]:
    """The plugins of one point: the point's own list with multiPoint expanded into it."""
    explicit = []
    for i, ref in enumerate(pset.enabled):
        plugin = instances[ref.name]
        if point not in plugin.POINTS:
            raise ConfigError(f"{where}.plugins.{point}.enabled[{i}]: plugin {ref.name!r} does not extend {point}")
        explicit.append(ref.name)
    if "*" in pset.disabled:
        return [instances[n] for n in explicit]
    disabled = set(pset.disabled)
    overrides: list[str] = []
    from_multi: list[str] = []
    for ref in multi.enabled:
        if point not in instances[ref.name].POINTS or ref.name in disabled:
            continue
        if ref.name in explicit:
            overrides.append(ref.name)
            continue
        if ref.name in from_multi:
            raise ConfigError(f"{where}.plugins.multiPoint: plugin {ref.name!r} already registered at {point}")
        from_multi.append(ref.name)
    ordered = [n for n in explicit if n in overrides] + from_multi + [n for n in explicit if n not in overrides]
    return [instances[n] for n in ordered]


def _score_weights(profile: Profile, refs: list[PluginRef]) -> dict[str, int]:
    scoring = {p.NAME for p in profile.points[SCORE]}
    weights: dict[str, int] = {}
    for ref in refs:
        if ref.name not in scoring or ref.name in weights:
            continue
        weights[ref.name] = ref.weight or 1
    for name in scoring:
        weights.setdefault(name, 1)
    return weights


def _plugin_args(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, list):
        raise ConfigError(f"{where}: expected a list of {{name, args}}")
    out: dict[str, Any] = {}
    for i, item in enumerate(value):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            raise ConfigError(f"{where}[{i}]: expected {{name, args}}")
        if set(item) - {"name", "args"}:
            raise ConfigError(f"{where}[{i}]: unknown field {min(set(item) - {'name', 'args'})!r}")
        if item["name"] in out:
            raise ConfigError(f"{where}[{i}]: repeated pluginConfig for {item['name']!r}")
        out[item["name"]] = item.get("args")
    return out


def parse_config(doc: Any, source: str = "") -> dict[str, Profile]:
    """Profiles by scheduler name from a decoded KubeSchedulerConfiguration."""
    prefix = f"{source}: " if source else ""
    if not isinstance(doc, Mapping):
        raise ConfigError(f"{prefix}expected a KubeSchedulerConfiguration mapping")
    try:
        if doc.get("kind", KIND) != KIND:
            raise ConfigError(f"kind: expected {KIND}, got {doc.get('kind')!r}")
        if "apiVersion" in doc and doc["apiVersion"] not in API_VERSIONS:
            raise ConfigError(f"apiVersion: expected {API_VERSIONS[0]}, got {doc['apiVersion']!r}")
        unknown = set(doc) - set(_TOP_LEVEL)
        if unknown:
            raise ConfigError(f"unknown field {min(unknown)!r}")
        percentage = doc.get("percentageOfNodesToScore")
        docs = doc.get("profiles") or [{}]
        if not isinstance(docs, list):
            raise ConfigError("profiles: expected a list")
        profiles: dict[str, Profile] = {}
        for i, entry in enumerate(docs):
            profile = build_profile(entry, f"profiles[{i}]", percentage=percentage)
            if profile.scheduler_name in profiles:
                raise ConfigError(f"profiles[{i}].schedulerName: duplicate {profile.scheduler_name!r}")
            profiles[profile.scheduler_name] = profile
        return profiles
    except ConfigError as exc:
        raise ConfigError(f"{prefix}{exc}") from None


def load_config(path: str) -> dict[str, Profile]:
    """Profiles from a YAML (or JSON) KubeSchedulerConfiguration file."""
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    return parse_config(doc, path)


def default_profile() -> Profile:
    return build_profile(None)

