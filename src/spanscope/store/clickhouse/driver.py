"""How the ClickHouse backend talks to ClickHouse: statements in, Arrow tables out.

Every value a user supplies travels as a ClickHouse query parameter — ``{name:Type}`` in
the SQL, the value in ``params`` — never spliced into the text::

    driver = ChdbDriver("spanscope-data/clickhouse")      # in-process, one directory
    driver.execute("CREATE DATABASE IF NOT EXISTS spanscope")
    driver.arrow("SELECT SpanName FROM spanscope.otel_traces WHERE TraceId = {t:String}",
                 {"t": "4bf92f3577b34da6a3ce929d0e0e4736"})       # -> pyarrow.Table

A driver for a ClickHouse server (``clickhouse-connect`` over HTTP) implements the same
two methods over the same SQL, so the tests that run on chDB cover its statements too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.ipc


class Driver(Protocol):
    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement that returns no rows (DDL, INSERT ... SELECT, ALTER)."""
        ...

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """The result of a SELECT as an Arrow table (ClickHouse's column types)."""
        ...

    def close(self) -> None: ...


class ChdbDriver:
    """ClickHouse in this process through chDB, its data in one directory.

    chDB allows one open session per process: a second ``ChdbDriver`` must wait for the
    first one's :meth:`close`."""

    def __init__(self, path: str | Path) -> None:
        try:
            from chdb import session
        except ImportError as exc:  # an optional dependency
            raise RuntimeError(
                f"the ClickHouse backend at {path} needs chDB: pip install 'spanscope[clickhouse]'"
            ) from exc
        self.path = str(path)
        Path(self.path).mkdir(parents=True, exist_ok=True)
        self._session = session.Session(self.path)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        self._session.query(sql, "Null", params=dict(params or {}))

    def arrow(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        # ArrowStream bytes, read here: chDB's own ArrowTable conversion needs pandas.
        result = self._session.query(sql, "ArrowStream", params=dict(params or {}))
        return pyarrow.ipc.open_stream(result.bytes()).read_all()

    def close(self) -> None:
        self._session.close()
