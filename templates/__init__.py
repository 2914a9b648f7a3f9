"""Jinja2 templates per event kind x channel part x language, and their sandboxed renderer."""
