"""The domain, organised by area; no Flask. Imports flow `admin → workflow → models`.

access/     who may see what (scope) and do what (permissions); accounts and tokens
cases/      the engine and what it reads: definitions, guards, effects, evidence, queue, views of a case
processes/  the processes as data, one module each
absence/    attendance, the absence ladder, the daily sweep
org/        schools, classes, students, users; the school calendar; enrolment periods
figures/    baselines, losses, ledger, school rates, exams, oversight
registers/  the catchment register, ledgers and reports
demo/       the demo township (only the CLI and tests import it)
"""
