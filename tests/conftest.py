"""The whole suite's fixtures come from the tests.support plugins listed here (pytest loads
a top-level conftest's ``pytest_plugins`` before it collects any test directory), so a test
anywhere under tests/ asks for ``spanscope_server``, ``start_spanscope`` or
``spanscope_launcher`` by name. Helpers that are not fixtures (span builders, the in-memory
store, workloads, auth files, waits) are imported from their modules in tests/support/."""

pytest_plugins = ["tests.support.server"]
