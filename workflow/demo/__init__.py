"""The demo township, its cases and its past years: imported only by the CLI and the tests.

This package's own module holds only what the login page of a demo install shows, so that
showing it does not load the demo generators (and Faker)."""

# Every demo account's password.
DEMO_PASSWORD = "baoxue-2026"
