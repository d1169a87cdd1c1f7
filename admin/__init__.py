"""The Flask side: app factory, pages, Flask-Admin, the JSON API, CLI."""
