"""The ClickHouse backend (issue #16, in progress): one SQL dialect, two drivers.

ClickHouse is where Spanscope goes when one machine is not enough. The same SQL runs on a
ClickHouse server or cluster (through ``clickhouse-connect``, to come) and in-process
through chDB (:class:`~spanscope.store.clickhouse.driver.ChdbDriver`), which also lets the
test suite run the ClickHouse backend for real with no server.

What is here so far:

=============  ==================================================================
module         what is in it
=============  ==================================================================
driver.py      the driver protocol (statements with ``{name:Type}`` parameters,
               results as Arrow) and its chDB implementation
schema.py      the tables as versioned, idempotent migrations: the OpenTelemetry
               Collector ClickHouse exporter's ``otel_traces`` layout (so traces an
               OTel Collector already writes are readable) plus Spanscope's own
=============  ==================================================================

Not yet: the store class itself. It joins ``tests/store/conftest.py``'s ``BACKENDS`` (one
line) when it passes the whole conformance suite, and ``spanscope serve --store
chdb:///path`` then selects it. chDB is an optional dependency: ``pip install
'spanscope[clickhouse]'``.
"""
