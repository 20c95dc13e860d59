"""TraceQL, Tempo's trace query language, over any Spanscope store.

Laid out as Tempo's ``pkg/traceql``: :mod:`.lexer` (text -> tokens), :mod:`.parser`
(tokens -> :mod:`.ast`), :mod:`.validate` (types, regexes), :mod:`.engine` (a query
over whole traces -> spansets), :mod:`.planner` (what the store's search can narrow
first, then the engine over the candidates) and :mod:`.metrics` (``rate()`` and friends).

>>> q = parse('{ resource.service.name = "orders" && duration > 500ms } | count() > 2')
>>> type(q.pipeline.stages[1]).__name__
'ScalarFilter'

docs/traceql.md lists what is supported, with examples.
"""

from spanscope.query.traceql.lexer import TraceQLError
from spanscope.query.traceql.parser import parse

__all__ = ["TraceQLError", "parse"]
