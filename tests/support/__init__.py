"""What the tests share, one home per concept (import from here; never ``from conftest``).

``server``        the real ``spanscope serve`` in a subprocess: :class:`RunningServer`,
                  :func:`launch`, :func:`fetch_trace` and the fixtures ``spanscope_server``,
                  ``start_spanscope``, ``spanscope_launcher`` (a pytest plugin, loaded by
                  tests/conftest.py).
``auth``          auth files (``--auth-file``) written the way an operator keeps them (0600),
                  and the ``Authorization`` header that carries a token.
``waiting``       :func:`wait_until`: poll a condition until it holds, or fail naming it.
``traces``        hand-built traces whose analysis answers are known (``build(...)``).
``memory_store``  the in-memory reference store the unit tests run the API against.
``pipeline``      the ingest pipeline's test store (Arrow batches through ``write_tables``,
                  as DuckDBStore takes them) and its one-integer-per-span wire format.
``sampling``      ``[tail_sampling]`` configs and :func:`decided_and_stored`, the condition a
                  tail-sampled server's test waits for before it reads what was kept.
``workload``      realistic OTLP export requests (benchmarks/workload.py, shared with the
                  benchmarks).
"""
