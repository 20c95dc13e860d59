"""``python -m spanscope.cli ...``: the same app as the ``spanscope`` command."""

from spanscope.cli.main import app

app(prog_name="spanscope")
