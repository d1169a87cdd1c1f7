"""Keeping children in school by helping them (SPEC §5): learning-difficulty files
(`workflow.support.learning`), poor-family aid (`workflow.support.aid`), the anonymous class survey
and the teacher evaluation (`workflow.support.survey`), the published fee schedule and receipts
(`workflow.support.fees`). Services take a session and a `Scope`, check, write, flush, never commit.
"""
