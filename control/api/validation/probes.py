"""Probes and lifecycle handlers: exactly one handler each, ports in range, sane timings."""

from __future__ import annotations

from shoal.control.api.validation.fielderrors import invalid, required, unsupported
from shoal.control.api.validation.names import (
    PORT_RANGE_MSG,
    http_header_name_problem,
    iana_svc_name_problem,
)

URI_SCHEMES = ("HTTP", "HTTPS")


def validate_int_or_string_port(port, p: str, errs: list[str]) -> None:
    which = port.WhichOneof("value")
    if which == "str_val":
        problem = iana_svc_name_problem(port.str_val)
        if problem:
            errs.append(invalid(p, port.str_val, problem))
    else:
        number = port.int_val
        if not 0 < number <= 65535:
            errs.append(invalid(p, number, PORT_RANGE_MSG))


def _validate_handler(handler, which: str, p: str, errs: list[str]) -> None:
    if which == "exec":
        if not handler.exec.command:
            errs.append(required(p + ".exec.command"))
    elif which == "http_get":
        action = handler.http_get
        validate_int_or_string_port(action.port, p + ".httpGet.port", errs)
        if action.scheme not in URI_SCHEMES:
            errs.append(required(p + ".httpGet.scheme") if not action.scheme
                        else unsupported(p + ".httpGet.scheme", action.scheme, URI_SCHEMES))
        for i, header in enumerate(action.http_headers):
            problem = http_header_name_problem(header.name)
            if problem:
                errs.append(invalid(f"{p}.httpGet.httpHeaders[{i}].name", header.name, problem))
    elif which == "tcp_socket":
        validate_int_or_string_port(handler.tcp_socket.port, p + ".tcpSocket.port", errs)
    elif which == "grpc":
        if not 0 < handler.grpc.port <= 65535:
            errs.append(invalid(p + ".grpc.port", handler.grpc.port, PORT_RANGE_MSG))
    elif which == "sleep" and handler.sleep.seconds < 0:
        errs.append(invalid(p + ".sleep.seconds", handler.sleep.seconds, "must be greater than or equal to 0"))


def validate_probe(probe, p: str, kind: str, errs: list[str]) -> None:
    which = probe.WhichOneof("handler")
    if which is None:
        errs.append(required(p, "must specify a handler type"))
    else:
        _validate_handler(probe, which, p, errs)
    for field, json_name in (("initial_delay_seconds", "initialDelaySeconds"), ("timeout_seconds", "timeoutSeconds"),
                             ("period_seconds", "periodSeconds"), ("success_threshold", "successThreshold"),
                             ("failure_threshold", "failureThreshold")):
        value = getattr(probe, field)
        if value < 0:
            errs.append(invalid(f"{p}.{json_name}", value, "must be greater than or equal to 0"))
    if kind != "readinessProbe" and probe.success_threshold != 1:
        errs.append(invalid(p + ".successThreshold", probe.success_threshold, "must be 1"))
    if probe.HasField("termination_grace_period_seconds"):
        if kind == "readinessProbe":
            errs.append(invalid(p + ".terminationGracePeriodSeconds", probe.termination_grace_period_seconds,
                                "must not be set for readinessProbes"))
        elif probe.termination_grace_period_seconds <= 0:
            errs.append(invalid(p + ".terminationGracePeriodSeconds", probe.termination_grace_period_seconds,
                                "must be greater than 0"))


def validate_lifecycle(lifecycle, p: str, errs: list[str]) -> None:
    for field, json_name in (("post_start", "postStart"), ("pre_stop", "preStop")):
        if lifecycle.HasField(field):
            handler = getattr(lifecycle, field)
            which = handler.WhichOneof("handler")
            if which is None:
                errs.append(required(f"{p}.{json_name}", "must specify a handler type"))
            else:
                _validate_handler(handler, which, f"{p}.{json_name}", errs)
