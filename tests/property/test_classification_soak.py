"""Soak run of the tree properties with 3,000 examples each (make test-slow)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.property.test_classification_tree import (
    Case,
    check_duplicate,
    check_queries,
    check_search,
    check_wrong_parent,
    editions,
)

pytestmark = pytest.mark.slow
SOAK = settings(max_examples=3000, deadline=None)


@SOAK
@given(editions())
def test_queries_soak(case: Case) -> None:
    check_queries(case)


@SOAK
@given(editions(), st.data())
def test_search_soak(case: Case, data: st.DataObject) -> None:
    check_search(case, data)


@SOAK
@given(editions(), st.data())
def test_wrong_parent_soak(case: Case, data: st.DataObject) -> None:
    check_wrong_parent(case, data)


@SOAK
@given(editions(), st.data())
def test_duplicate_soak(case: Case, data: st.DataObject) -> None:
    check_duplicate(case, data)
