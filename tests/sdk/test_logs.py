"""Log records made inside a span carry its trace id and span id; JsonFormatter prints them."""

from __future__ import annotations

import io
import json
import logging

from spanscope.sdk import span
from spanscope.sdk.logs import JsonFormatter


def capture(logger_name: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger(logger_name)
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger, stream


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_records_in_a_span_carry_its_ids(sdk) -> None:
    logger, stream = capture("orders.test")
    with span("reserve-stock") as s:
        logger.info("reserved %d items", 3, extra={"sku": "A-1"})
    logger.info("after")
    inside, outside = lines(stream)
    ctx = s.get_span_context()
    assert inside["trace_id"] == f"{ctx.trace_id:032x}"
    assert inside["span_id"] == f"{ctx.span_id:016x}"
    assert inside["message"] == "reserved 3 items"
    assert inside["sku"] == "A-1"
    assert inside["service.name"] == "orders"
    assert inside["level"] == "INFO"
    assert "trace_id" not in outside


def test_third_party_records_get_ids_in_plain_format_strings(sdk) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s trace=%(trace_id)s span=%(span_id)s"))
    # A library's logger, configured the way the library's user would, not by us.
    lib = logging.getLogger("urllib3.connectionpool")
    lib.addHandler(handler)
    lib.setLevel(logging.DEBUG)
    try:
        with span("outgoing") as s:
            lib.debug("Starting new HTTP connection")
    finally:
        lib.removeHandler(handler)
    ctx = s.get_span_context()
    assert stream.getvalue().strip() == (
        f"urllib3.connectionpool trace={ctx.trace_id:032x} span={ctx.span_id:016x}"
    )


def test_exceptions_are_formatted_into_the_json_line(sdk) -> None:
    logger, stream = capture("orders.errors")
    with span("charge"):
        try:
            raise RuntimeError("card declined")
        except RuntimeError:
            logger.exception("payment failed")
    (line,) = lines(stream)
    assert "RuntimeError: card declined" in line["exception"]
    assert line["level"] == "ERROR"
    assert len(line["trace_id"]) == 32


def test_shutdown_removes_the_correlation(sdk) -> None:
    sdk.handle.shutdown()
    record = logging.getLogger("x").makeRecord("x", logging.INFO, "f", 1, "m", None, None)
    assert not hasattr(record, "trace_id")
