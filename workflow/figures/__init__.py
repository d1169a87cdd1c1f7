"""Figures (SPEC §4): baselines, class losses and coefficients, the ledger, school rates, exams and
the oversight roll-up."""
