import pytest

from expert_draw.errors import FieldViolation, InvalidRequestError, NotFoundError


def test_invalid_request_needs_a_violation() -> None:
    with pytest.raises(ValueError):
        InvalidRequestError([])


def test_messages_name_fields_and_resources() -> None:
    error = InvalidRequestError([FieldViolation("a", "bad"), FieldViolation("b", "worse")])
    assert error.message == "invalid request: a: bad; b: worse"
    missing = NotFoundError("Edition", "editions/x", reason="EDITION_NOT_FOUND")
    assert missing.reason == "EDITION_NOT_FOUND"
    assert "editions/x" in missing.message
