"""Spanscope: a distributed tracing system in Python."""

__version__ = "0.1.0"
