"""Registers (SPEC §4–5): the catchment register and its cross-check, the ledgers and reports."""
