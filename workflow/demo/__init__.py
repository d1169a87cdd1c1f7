"""The demo township, its cases and its past years: imported only by the CLI and the tests."""
