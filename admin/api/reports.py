"""Placeholder module: routes are added by their issue."""
from . import bp  # noqa: F401
