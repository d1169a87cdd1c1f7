"""Routes of this area register on the API blueprint."""
from . import bp  # noqa: F401
