"""The DuckDB backend: the embedded default store, one database file per tenant.

=============  ==================================================================
module         what is in it
=============  ==================================================================
store.py       :class:`DuckDBStore` — connections, writes, trace by id, listings
schema.py      the tables, and how an Arrow span batch becomes rows
search.py      trace search (ranking traces by the query's filters)
analysis.py    the cross-trace aggregates (RED, histograms, dependency stats)
signals.py     logs and metric points
sampling.py    tail-sampling records and retention by trace class
=============  ==================================================================

>>> from spanscope.store.duckdb import DuckDBStore
>>> DuckDBStore(":memory:").capabilities.backend
'duckdb'
"""

from spanscope.store.duckdb.store import MEMORY_LIMIT, DuckDBStore, size_bytes

__all__ = ["MEMORY_LIMIT", "DuckDBStore", "size_bytes"]
