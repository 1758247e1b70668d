import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from expert_draw import errors
from expert_draw.adapters.grpc.status import (
    ERROR_DOMAIN,
    STATUS_TABLE,
    internal_status,
    status_code_for,
    to_status,
)


def all_error_classes() -> list[type[errors.Error]]:
    found, todo = [], [errors.Error]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [cls for cls in found if cls is not errors.Error]


def sample(cls: type[errors.Error]) -> errors.Error:
    if issubclass(cls, errors.InvalidPageTokenError):
        return cls("bad")
    if issubclass(cls, errors.InvalidRequestError):
        return cls.field("f", "bad")
    if issubclass(cls, errors.NotFoundError):
        return cls("Thing", "things/1")
    return cls("message")


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda c: c.__name__)
def test_every_error_class_maps_to_a_deliberate_status(cls: type[errors.Error]) -> None:
    assert status_code_for(sample(cls)) is not grpc.StatusCode.INTERNAL


def test_table_has_no_duplicates() -> None:
    classes = [cls for cls, _ in STATUS_TABLE]
    assert len(classes) == len(set(classes))


def unpack(status: grpc.Status) -> list[object]:
    decoded = status_pb2.Status.FromString(
        dict(status.trailing_metadata)["grpc-status-details-bin"]
    )
    out = []
    for detail in decoded.details:
        for kind in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.ResourceInfo,
        ):
            message = kind()
            if detail.Unpack(message):
                out.append(message)
    return out


def test_invalid_request_carries_error_info_and_field_violations() -> None:
    status = to_status(errors.InvalidRequestError.field("page_size", "must not be negative"))
    assert status.code is grpc.StatusCode.INVALID_ARGUMENT
    info, bad = unpack(status)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain) == ("INVALID_REQUEST", ERROR_DOMAIN)
    assert isinstance(bad, error_details_pb2.BadRequest)
    assert bad.field_violations[0].field == "page_size"


def test_not_found_carries_resource_info() -> None:
    status = to_status(errors.NotFoundError("Edition", "editions/x", reason="EDITION_NOT_FOUND"))
    info, resource = unpack(status)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.metadata["resource_name"] == "editions/x"
    assert isinstance(resource, error_details_pb2.ResourceInfo)


def test_internal_status_is_generic() -> None:
    status = internal_status("abc123")
    assert status.code is grpc.StatusCode.INTERNAL
    assert status.details == "internal error; incident abc123 is logged"
    (info,) = unpack(status)
    assert isinstance(info, error_details_pb2.ErrorInfo)
    assert info.metadata["incident_id"] == "abc123"


def test_unlisted_subclass_of_root_is_internal() -> None:
    class Stray(errors.Error):
        pass

    assert status_code_for(Stray("x")) is grpc.StatusCode.INTERNAL
