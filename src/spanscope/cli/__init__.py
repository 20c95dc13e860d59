"""The ``spanscope`` command, one module per command group.

``spanscope serve`` runs the collector, store and query API in one process; every other
command is a client of the query API at ``--url`` (``SPANSCOPE_URL``, default
http://127.0.0.1:16686) and takes ``--json`` to print what the API said. docs/cli.md has
every command with examples.

=================  ===================================================================
``main.py``        the app: top-level options, every group registered (entry points
                   ``spanscope.cli:app``, ``python -m spanscope[.cli]``)
``options.py``     what the client commands share: ``--url``, ``--json``, ``--ca-file``,
                   ``--tenant``, ``--token``, one-line errors, help shown as written
``serve.py``       ``serve``
``traces.py``      ``services``, ``operations``, ``search``, ``trace`` (``--file``)
``analyze.py``     ``explain``, ``compare``, ``deps``, ``red``, ``diff``
``signals.py``     ``logs`` (``logs import``), ``metrics``
``client.py``      the HTTP client of the query API (:class:`ApiClient`)
``render.py``      tables and the trace waterfall; ``analysis.py``: the analysis answers
``trace_file.py``  OTLP JSON and Jaeger JSON files -> traces, for ``trace --file``
=================  ===================================================================

``spanscope demo`` and ``spanscope sampling``/``retention`` live beside what they drive
(``spanscope.demo.cli``, ``spanscope.sampling.cli``); main.py adds them.
"""

from __future__ import annotations

from typing import Any

__all__ = ["app"]


def __getattr__(name: str) -> Any:
    """``spanscope.cli.app`` (the entry point ``spanscope.cli:app``), built on first use: a
    module that only needs ``spanscope.cli.options`` (demo/cli.py, sampling/cli.py) does
    not import every command, nor itself back through main.py."""
    if name == "app":
        from spanscope.cli.main import app

        return app
    raise AttributeError(f"module 'spanscope.cli' has no attribute {name!r}")
