"""Fixtures for the TraceQL tests; the shop trace itself is in traceql_shop.py."""

from __future__ import annotations

import pytest
from traceql_shop import shop_trace

from spanscope.model.spans import Trace


@pytest.fixture
def shop() -> Trace:
    return shop_trace()
