"""The OTLP decoders import in one direction: values -> columns -> Span objects.

``otlp_values`` (AnyValue, events, links) is what every OTLP decoder shares, the columnar
span walk builds on it, and ``otlp`` presents the columns as spans. A decoder module that
imports back up that chain (even inside a function) is an import cycle: the order modules
load in then decides whether a name exists yet.
"""

from __future__ import annotations

import ast
from pathlib import Path

import spanscope.ingest

INGEST = Path(spanscope.ingest.__file__).parent


def _imports(module: str) -> set[str]:
    """Every ``spanscope.*`` module ``spanscope.ingest.<module>`` imports, at any depth of
    its code (top level, functions, TYPE_CHECKING blocks)."""
    tree = ast.parse((INGEST / f"{module}.py").read_text(), f"{module}.py")
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("spanscope.")}


def _reachable(module: str) -> set[str]:
    """The ``spanscope.ingest`` modules ``module`` imports, directly or through others."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        for name in _imports(todo.pop()):
            short = name.removeprefix("spanscope.ingest.")
            if short != name and short not in seen and (INGEST / f"{short}.py").exists():
                seen.add(short)
                todo.append(short)
    return seen


def test_the_columnar_decoder_does_not_import_the_span_decoder() -> None:
    assert "otlp" not in _reachable("otlp_columns")


def test_shared_otlp_values_import_no_decoder() -> None:
    reached = _reachable("otlp_values")
    assert not reached & {"otlp", "otlp_columns", "otlp_json", "otlp_logs", "otlp_metrics"}


def test_logs_and_metrics_take_shared_values_from_their_own_module() -> None:
    for module in ("otlp_logs", "otlp_metrics"):
        assert "spanscope.ingest.otlp" not in _imports(module), module
