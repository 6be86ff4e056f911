"""`shoal set image`: change the images of containers of workloads and pods, as kubectl does.

    shoal set image deployment/web app=busybox:1.36          one container
    shoal set image deploy/web '*=busybox:1.36'              every container (init ones too)
    shoal set image deployments -l tier=front app=web:2      by selector (or --all)

A Deployment rolls to the new template (its controller does the rolling); a ReplicaSet's
existing pods keep their images; a pod's container is restarted with the new image by its node.
Each object is read, changed and written with its resourceVersion (retried on a conflict), so a
concurrent edit of another field is never lost. An unknown container name changes nothing in
that object and is one error line.
"""

from __future__ import annotations

import argparse
import sys

from shoal.control.cli_verbs.base import (
    CLIError,
    _one_line_usage_errors,
    add_filename_flags,
    add_verb,
    command,
    named_targets,
    print_item_error,
)
from shoal.control.cli_verbs.printers import kind_ref

ALL_CONTAINERS = "*"
_CONFLICT_RETRIES = 5


class UnknownContainer(Exception):
    pass


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(sub, "set", help="set fields of objects (image)", examples="""
            shoal set image deployment/web app=busybox:1.36
            shoal set image deployment/web '*=busybox:1.36'
            shoal set image deploy web api sidecar=envoy:1.30 -n shop
            shoal set image deployments --all app=web:2
        """)
    what = p.add_subparsers(dest="field", metavar="FIELD", required=True)
    img = add_verb(what, "image", help="change the images of containers of pod templates and pods", examples="""
            shoal set image deployment/web app=busybox:1.36
            shoal set image deployment/web '*=busybox:1.36'
            shoal set image pod/web app=busybox:1.36 sidecar=envoy:1.30
            shoal set image deployments -l tier=front app=web:2
        """)
    # "*" (checked in split_words): words after a flag still land here (base.py's parser fix).
    img.add_argument("words", nargs="*", metavar="KIND NAME... | KIND/NAME... CONTAINER=IMAGE...")
    add_filename_flags(img, what="whose images to set")
    img.add_argument("-l", "--selector", default="", help="the objects matching this label selector")
    img.add_argument("--all", action="store_true", help="every object of the kind in the namespace")
    img.set_defaults(func=run_set_image)
    # add_verb names a verb's usage errors after its own word ("shoal image"): name them again.
    img.parse_known_args = argparse.ArgumentParser.parse_known_args.__get__(img)  # type: ignore[method-assign]
    _one_line_usage_errors(img, "shoal set image")


def split_words(words: list[str]) -> tuple[list[str], dict[str, str]]:
    """(resource words, {container: image}) from the positional words: CONTAINER=IMAGE pairs
    come after the resources."""
    resources, images = [], {}
    for word in words:
        if "=" in word:
            name, _, image = word.partition("=")
            if not name or not image:
                raise CLIError(f'invalid image assignment "{word}": give CONTAINER=IMAGE')
            images[name] = image
        elif images:
            raise CLIError(f'"{word}": resources come before the CONTAINER=IMAGE pairs')
        else:
            resources.append(word)
    if not images:
        raise CLIError("at least one CONTAINER=IMAGE is required")
    return resources, images


def pod_spec_of(obj):
    """The PodSpec an object runs its containers from; None for a kind without one."""
    kind = type(obj).__name__
    if kind == "Pod":
        return obj.spec
    if kind == "CronJob":
        return obj.spec.job_template.spec.template.spec
    spec = getattr(obj, "spec", None)
    if spec is not None and "template" in type(spec).DESCRIPTOR.fields_by_name:
        return spec.template.spec
    return None


def set_images(pod_spec, images: dict[str, str], what: str) -> bool:
    """Sets the images of the named containers (ALL_CONTAINERS: every one); True if anything
    changed. UnknownContainer (nothing changed) when a name matches no container."""
    containers = list(pod_spec.init_containers) + list(pod_spec.containers)
    names = {c.name for c in containers}
    for name in images:
        if name != ALL_CONTAINERS and name not in names:
            raise UnknownContainer(f'{what}: unable to find container named "{name}"')
    changed = False
    for c in containers:
        image = images.get(c.name, images.get(ALL_CONTAINERS))
        if image is not None and c.image != image:
            c.image = image
            changed = True
    return changed


def qualified(info, name: str) -> str:
    """kubectl's name of an object: deployment.apps/web, pod/web."""
    return f"{kind_ref(info)}/{name}"


@command
def run_set_image(args: argparse.Namespace) -> int:
    from shoal.control.cli_verbs import connection

    resources, images = split_words(args.words)
    args.resources = resources
    conn = connection.resolve(args)
    with conn.client() as client:
        targets = _targets(client, conn, args)
        failed = sum(_set_one(client, info, namespace, name, images) for info, namespace, name in targets)
    return 1 if failed else 0


def _targets(client, conn, args: argparse.Namespace) -> list[tuple[object, str, str]]:
    found = named_targets(client, conn, args, verb="set image", purpose="whose images to set")
    for info, _, name in found:
        if pod_spec_of(info.message()) is None:
            raise CLIError(f'{info.plural} "{name}" has no containers: images can be set on pods and on '
                           f"objects with a pod template")
    return found


def _set_one(client, info, namespace: str, name: str, images: dict[str, str]) -> int:
    """Sets the images of one object; returns 1 on failure (reported), else 0."""
    import grpc
    from shoal.proto.client import APIStatusError

    what = qualified(info, name)
    for _attempt in range(_CONFLICT_RETRIES):
        try:
            obj = client.get(info.kind, name, namespace)
            if not set_images(pod_spec_of(obj), images, what):
                return 0  # as kubectl: nothing to change is no error and no output
            client.update(obj)  # carries the resourceVersion read above: a lost race is a conflict
        except UnknownContainer as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except APIStatusError as exc:
            if exc.code == grpc.StatusCode.ABORTED:
                continue
            print_item_error(exc)
            return 1
        print(f"{what} image updated")
        return 0
    print(f"error: {what} kept changing; images not set", file=sys.stderr)
    return 1
