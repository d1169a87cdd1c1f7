"""Class losses (SPEC §4): per class and term the losses against the frozen baseline, the loss
rate, over the threshold (the homeroom teacher may not take part in 评优评先 that year), the
coefficient; and the loss rates of whole schools for oversight.

A whole county term is computed with a constant number of grouped queries (classes, terms,
baselines, dropout rows, return rows, enrolments and exclusions of the children who dropped out,
recovery rows), never one query per class. docs/figures.md gives every formula and reading.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy.orm import Session

from models import Baseline, School
from workflow.access.scope import Scope, get_in_scope
from workflow.figures.baselines import baseline_counts, current_baselines
from workflow.figures.common import (
    MONEY_PLACES,
    ClassRow,
    FigureSettings,
    check_term,
    class_rows,
    movements,
    rate,
    term_dates,
)
from workflow.org.calendar import school_year_of
from workflow.org.services import check_school_year


def coefficient(losses: int, step: Decimal = Decimal("0.02")) -> Decimal:
    """1 − step × losses, not below 0, to 2 places."""
    return max(Decimal(0), Decimal(1) - step * losses).quantize(MONEY_PLACES, rounding=ROUND_HALF_UP)


def _class_items(classes: list[ClassRow], baselines: dict[int, Baseline], losses, recoveries,
                 terms, cfg: FigureSettings) -> list[dict]:
    """The rows `class_figures` returns: loss rate against the baseline, over the threshold,
    coefficient, recoveries."""
    out = []
    for c in classes:
        base = baselines.get(c.id)
        lost = losses.get(c.id, [])
        rec = recoveries.get(c.id, [])
        n = len(lost)
        if base is None:
            loss_rate, over = None, False
        elif base.count == 0:
            # nobody was counted but someone was lost (joined after the freeze): no rate, but over
            loss_rate, over = (Decimal("0.0000"), False) if n == 0 else (None, True)
        else:
            loss_rate = rate(n, base.count)
            # strictly above: the homeroom teacher may not take part in 评优评先 that year (SPEC §4)
            over = loss_rate > cfg.class_threshold
        term = terms.get(c.school_id)
        out.append({
            "class_id": c.id, "class_name": c.name, "grade": c.grade, "school_id": c.school_id,
            "school_name": c.school_name,
            "term_start": term[0] if term else None, "term_end": term[1] if term else None,
            "baseline": base.count if base is not None else None,
            "baseline_rule": base.rule if base is not None else None,
            "baseline_id": base.id if base is not None else None,
            "frozen_at": base.frozen_at if base is not None else None,
            "losses": n, "loss_rate": loss_rate, "over_threshold": over,
            "threshold": cfg.class_threshold,
            "coefficient": coefficient(n, cfg.coefficient_step),
            "recovered": len({r.student_id for r in rec}),
            "loss_student_ids": [x.student_id for x in lost],
            "recovered_student_ids": sorted({r.student_id for r in rec}),
            "loss_details": lost, "recovery_details": rec,
        })
    return out


def class_figures(session: Session, scope: Scope, *, school_id: int | None = None, school_year: str,
                  term: int, settings: FigureSettings | Mapping | None = None) -> list[dict]:
    """One row per class of the school (or, without `school_id`, every class the user may see)
    in that school year: baseline (None before freezing), losses, loss_rate (Decimal, 4 places;
    None before freezing), over_threshold (strictly above the class threshold), coefficient
    (Decimal, 2 places), recovered, loss_student_ids, recovered_student_ids, and the details
    (Loss / Recovery records) behind them.

    Raises NotFound (school out of scope), Invalid (school year or term). Never writes.
    """
    check_school_year(school_year)
    check_term(term)
    cfg = FigureSettings.from_mapping(settings)
    if school_id is not None:
        get_in_scope(session, scope, School, school_id)
    classes = class_rows(session, scope, school_year, school_id=school_id)
    terms = term_dates(session, {c.school_id for c in classes}, school_year, term)
    losses, recoveries = movements(session, classes, school_year, term, terms)
    baselines = baseline_counts(session, scope, school_year, term, school_id=school_id)
    return _class_items(classes, baselines, losses, recoveries, terms, cfg)


def school_loss_rates(session: Session, school_ids: Iterable[int], school_year: str,
                      term: int) -> dict[int, tuple[int, int | None, Decimal | None]]:
    """{school id: (losses, baseline, rate)} for oversight (no scope: the caller has already
    limited `school_ids` to what the user may see).

    `losses` counts every class of the school; `baseline` is the sum of the frozen baselines
    (None when no class of the school is frozen) and `rate` = losses of the frozen classes /
    that sum, 4 places (None when nothing is frozen or the sum is 0). A constant number of
    queries for any number of schools."""
    ids = sorted(set(school_ids))
    out: dict[int, tuple[int, int | None, Decimal | None]] = {sid: (0, None, None) for sid in ids}
    if not ids:
        return out
    classes = class_rows(session, None, school_year, school_ids=ids)
    losses, _ = movements(session, classes, school_year, term, with_recoveries=False)
    baselines = current_baselines(session, [c.id for c in classes], school_year, term, with_students=False)
    total: dict[int, int] = defaultdict(int)
    frozen_losses: dict[int, int] = defaultdict(int)
    frozen_base: dict[int, int] = {}
    for c in classes:
        n = len(losses.get(c.id, ()))
        total[c.school_id] += n
        base = baselines.get(c.id)
        if base is not None:
            frozen_base[c.school_id] = frozen_base.get(c.school_id, 0) + base.count
            frozen_losses[c.school_id] += n
    for sid in ids:
        base = frozen_base.get(sid)
        out[sid] = (total.get(sid, 0), base, rate(frozen_losses.get(sid, 0), base) if base else None)
    return out


def current_school_loss_rates(session: Session, school_ids: Iterable[int], *,
                              today: dt.date) -> dict[int, tuple[int, int | None, Decimal | None]]:
    """`school_loss_rates` for the term each school is in on `today`: the latest term that has
    begun by then (so a winter holiday still shows term 1, the summer term 2). Schools without
    a calendar answer (0, None, None). At most three groups of (school year, term), so still a
    constant number of queries."""
    ids = sorted(set(school_ids))
    year = school_year_of(today)
    first = int(year[:4])
    previous = f"{first - 1}-{first}"
    candidates = [(year, 2), (year, 1), (previous, 2)]
    dates = {c: term_dates(session, ids, *c) for c in candidates}
    groups: dict[tuple[str, int], list[int]] = defaultdict(list)
    out: dict[int, tuple[int, int | None, Decimal | None]] = {}
    for sid in ids:
        chosen = next((c for c in candidates if sid in dates[c] and dates[c][sid][0] <= today), None)
        if chosen is None:
            out[sid] = (0, None, None)
        else:
            groups[chosen].append(sid)
    for (school_year, term), members in groups.items():
        out.update(school_loss_rates(session, members, school_year, term))
    return out
