"""The Flask side: app factory, pages, Flask-Admin, the JSON API, CLI."""

# The release (CHANGELOG.md); shown by /healthz and in the page footer.
__version__ = "1.0.0"
