"""Where spans, logs and metric points are kept: one contract, several backends.

- ``base.py`` — the contract: role protocols (writer, trace reader, analytics, signals,
  sampling records and retention), the ``Capabilities`` a backend declares, the rules.
- ``memory.py`` — the in-memory reference backend (the plainest reading of the rules).
- ``duckdb/`` — the embedded default: one DuckDB file per tenant.
- ``clickhouse/`` — the scale-out backend, in progress (chDB in-process, a server later).
- ``deadline.py`` — per-request time limits that interrupt a running read.

Every backend passes one conformance suite, ``tests/store/``.
"""
