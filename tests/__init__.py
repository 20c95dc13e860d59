"""Spanscope's tests: a package so that ``tests.support`` (the shared fixtures and helpers)
is importable by name from every test directory, with no ``sys.path`` edits."""
