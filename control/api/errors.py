"""Domain errors of the API layer; the servicer maps each to one gRPC status code."""

from __future__ import annotations

import grpc


class APIError(Exception):
    """An error a client should see: a status code and a message naming object and field."""

    code: grpc.StatusCode = grpc.StatusCode.INTERNAL

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(APIError):
    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(APIError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(APIError):
    code = grpc.StatusCode.ALREADY_EXISTS


class Conflict(APIError):
    code = grpc.StatusCode.ABORTED


class FailedPrecondition(APIError):
    code = grpc.StatusCode.FAILED_PRECONDITION


class Gone(APIError):
    code = grpc.StatusCode.OUT_OF_RANGE


class TooLarge(APIError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class Unavailable(APIError):
    code = grpc.StatusCode.UNAVAILABLE
