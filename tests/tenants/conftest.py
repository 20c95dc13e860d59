"""Fixtures for the tenant tests: the integration suite's real-server fixtures
(``spanscope_server``, ``start_spanscope``, ``spanscope_launcher``), loaded from their file
because tests/ is not a package."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

_path = Path(__file__).parent.parent / "integration" / "conftest.py"
_spec = importlib.util.spec_from_file_location("spanscope_tenants_fixtures", _path)
assert _spec is not None and _spec.loader is not None
integration = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = integration  # dataclasses look their module up there
_spec.loader.exec_module(integration)

spanscope_server = integration.spanscope_server
start_spanscope = integration.start_spanscope
spanscope_launcher = integration.spanscope_launcher
RunningServer = integration.RunningServer
