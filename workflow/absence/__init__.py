"""Absence (SPEC §3.7): attendance, the ladder policy and the daily sweep that climbs it."""
