"""The suite's personal-data log scanner finds what it must and ignores look-alikes."""

from __future__ import annotations

import logging

from tests.support.experts import resident_id
from tests.support.leaks import LeakDetector, personal_data_in


def test_finds_ids_and_phones_not_hashes_or_timestamps() -> None:
    number = resident_id(5)
    assert personal_data_in(f"id={number} phone 13912345678.") == [
        number[:3] + "…" + number[-2:],
        "139…78",
    ]
    wrong_check = number[:-1] + ("0" if number[-1] != "0" else "1")
    assert (
        personal_data_in(f"ts=1776643200000 hash=ab13912345678cd req=fe885bd9 {wrong_check}") == []
    )


def test_the_handler_sees_structlog_dicts_and_exceptions() -> None:
    detector = LeakDetector()
    logger = logging.getLogger("leak-test")
    logger.addHandler(detector)
    logger.propagate = False  # keep these planted values away from the session's scanner
    try:
        logger.error({"event": "x", "phone": "13812345678"})
        try:
            raise ValueError(resident_id(6))  # noqa: TRY301 - an exception that carries one
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(detector)
    assert [logger_name for logger_name, _ in detector.findings] == ["leak-test", "leak-test"]
