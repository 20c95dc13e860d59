"""The ``spanscope`` app: the top-level options and every command group, registered when
this module is imported, so ``spanscope``, ``python -m spanscope`` and ``python -m
spanscope.cli`` all see every command (``python -m spanscope.cli logs`` used to say "No
such command 'logs'": the old module ran ``app()`` before registering the last groups).

Groups are added here and nowhere else; a command module never imports this one.
"""

from __future__ import annotations

import typer

from spanscope.cli import analyze, serve, signals, traceql, traces
from spanscope.cli.options import HelpGroup, client_options
from spanscope.demo.cli import demo_app
from spanscope.sampling.cli import register as register_sampling

app = typer.Typer(
    name="spanscope",
    cls=HelpGroup,
    help="Spanscope: receive, store and explore distributed traces.",
    no_args_is_help=True,
    add_completion=False,
)
app.callback()(client_options)

serve.register(app)  # spanscope serve
traces.register(app)  # services, operations, search, trace [--file]
app.add_typer(demo_app, name="demo")  # demo, demo incident NAME --on/--off (demo/cli.py)
register_sampling(app)  # sampling set|list|delete, retention (sampling/cli.py)
analyze.register(app)  # explain, compare, deps, red, diff
signals.register(app)  # logs [import], metrics
traceql.register(app)  # query-range (search -q is in traces)
