"""Reuse the integration fixtures (``start_spanscope``: a real ``spanscope serve`` on free
loopback ports) for the sampling tests that need a server."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location(
    "spanscope_integration_conftest", Path(__file__).parents[1] / "integration" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_integration = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _integration  # dataclasses look their module up there
_spec.loader.exec_module(_integration)

start_spanscope = _integration.start_spanscope
RunningServer = _integration.RunningServer
