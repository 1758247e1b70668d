"""Finding the field of a request that did not parse, from its wire bytes.

gRPC hands the service raw bytes; protobuf refuses a message whose ``string`` field is
not UTF-8 without saying which field. This walk names it, for the field violation.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from google.protobuf.descriptor import FieldDescriptor

if TYPE_CHECKING:
    from google.protobuf.descriptor import Descriptor

_MAX_DEPTH = 32
_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        byte = data[pos]  # IndexError past the end: the caller gives up
        value |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:  # noqa: PLR2004 - a varint has at most 10 bytes
            raise IndexError(pos)  # garbage: without this, 0xff... grows a huge integer


def _skip(data: bytes, pos: int, wire_type: int) -> int:
    """The position after a scalar value; IndexError for a group or garbage."""
    if wire_type == _VARINT:
        return _varint(data, pos)[1]
    if wire_type in (_FIXED64, _FIXED32):
        return pos + (8 if wire_type == _FIXED64 else 4)
    raise IndexError(wire_type)  # a group or garbage: nothing to name


MAX_WALK_BYTES = 64 * 1024  # larger messages are refused without naming the field


def bad_utf8_field(descriptor: Descriptor, data: bytes) -> str | None:
    """The path of the first string field in ``data`` that is not UTF-8 (None: none).

    Linear in ``len(data)`` (times the nesting depth, at most 32); messages over
    ``MAX_WALK_BYTES`` are not walked.
    """
    if len(data) > MAX_WALK_BYTES:
        return None
    try:
        return _walk(descriptor, data, "", 0)
    except IndexError:  # truncated, a group, garbage
        return None


def _walk(descriptor: Descriptor, data: bytes, prefix: str, depth: int) -> str | None:
    pos, seen = 0, dict[int, int]()
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if wire_type != _LENGTH:
            pos = _skip(data, pos, wire_type)
            continue
        length, pos = _varint(data, pos)
        if pos + length > len(data):
            raise IndexError(length)  # truncated
        chunk, pos = data[pos : pos + length], pos + length
        field = descriptor.fields_by_number.get(number)
        if field is None:
            continue
        path = prefix + field.name
        if field.is_repeated:
            seen[number] = seen.get(number, -1) + 1
            path += f"[{seen[number]}]"
        if field.type == FieldDescriptor.TYPE_STRING:
            try:
                chunk.decode("utf-8")
            except UnicodeDecodeError:
                return path
        elif field.message_type is not None and depth < _MAX_DEPTH:
            found = _walk(field.message_type, chunk, path + ".", depth + 1)
            if found is not None:
                return found
    return None
