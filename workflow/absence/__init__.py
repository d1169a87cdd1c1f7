"""Absence (SPEC §3.1): attendance, the ladder policy, opening absence cases, and the daily sweep
that climbs the ladder."""
