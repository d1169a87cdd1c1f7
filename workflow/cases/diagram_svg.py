"""A process's state diagram as inline SVG, drawn on the server (no JavaScript, no network).

The case page shows it with the case's current state highlighted. Layout: states in rows by
their longest distance from the initial state along forward edges, boxes centred in each row; a
forward edge to the next row is a straight arrow, a longer one a curve on the right, an edge
back up (退回) a curved dashed arrow on the left, a self-loop (e.g. 减免费用) a small loop on the box's right. Each arrow carries its
transition labels as a <title> (tooltip) and as a small text near its middle. Boxes are as wide
as the Chinese state names need: a longer translation wraps onto up to three lines instead of
widening the diagram (English would otherwise be about twice as wide and scroll on a phone).

Reads `workflow.processes.REGISTRY`; pure function of the definition, no database.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from html import escape

from workflow.cases.definitions import Process
from workflow.cases.diagrams import edges
from workflow.errors import N_, NAME_SEP, Msg
from workflow.processes import get_process

BOX_W = 104
BOX_H = 34  # a box of one line; each further line adds LINE_H
LINE_H = 15
EDGE_LINE_H = 12  # an arrow's name is 10 px (12 px on a phone)
MAX_LINES = 3
GAP_X = 24
GAP_Y = 58
MARGIN = 16
SIDE = 36  # room beside the boxes for loops and curved edges
TITLE = N_("%(process)s流程图")


def _layers(proc: Process) -> list[list[str]]:
    """States in rows by their longest distance from the initial state along forward edges.

    An edge is forward when its target comes later in the process's `states` (which list the
    normal flow first); the others (退回, 申请延长, …) are drawn as back edges. Longest-path
    rows keep a linear flow in a column: draft → submitted → … → filed.
    """
    order = {s: i for i, s in enumerate(proc.states)}
    depth = {s: 0 for s in proc.states}
    for state in proc.states:  # in definition order, so every forward source is settled first
        for t in proc.transitions:
            if state in t.sources and order[t.dest] > order[state]:
                depth[t.dest] = max(depth[t.dest], depth[state] + 1)
    rows: dict[int, list[str]] = {}
    for state in proc.states:  # keep the definition's order within a row
        rows.setdefault(depth[state], []).append(state)
    return [rows[k] for k in sorted(rows)]


def _text_px(text: str) -> float:
    """About how wide `text` is at font-size 13: 13 px per CJK character, 7.5 px for others."""
    return sum(13 if ord(ch) >= 0x2E80 else 7.5 for ch in text)


def _pieces(text: str) -> list[tuple[str, str]]:
    """The places a label may break: between words, and after a slash ("Deferral/exemption").
    Each piece with what joins it to the one before on the same line."""
    out: list[tuple[str, str]] = []
    for word in text.split():
        for i, piece in enumerate(re.split(r"(?<=/)(?=.)", word)):
            out.append((piece, "" if i else " "))
    return out


def _wrap(text: str, width: float) -> list[tuple[str, str]]:
    """`text` in lines of at most `width` px, broken between words or after a slash (a piece
    wider than `width` stands on a line of its own), each line with what joined it to the line
    before (a space, or nothing after a slash). Chinese labels have no spaces and stay one line."""
    lines: list[tuple[str, str]] = []
    for piece, joiner in _pieces(text):
        if lines and _text_px(lines[-1][0] + joiner + piece) <= width:
            lines[-1] = (lines[-1][0] + joiner + piece, lines[-1][1])
        else:
            lines.append((piece, joiner if lines else ""))
    return lines or [(text, "")]


def _text_lines(lines: list[tuple[str, str]], x: float, top: float, step: float) -> str:
    """The content of a <text>: one line as it is, several as <tspan>s `step` apart from `top`,
    joined by the space they were broken at, so that the text reads (and is found) whole."""
    if len(lines) == 1:
        return escape(lines[0][0])
    return "".join(f'{joiner}<tspan x="{x:.0f}" y="{top + i * step:.0f}">{escape(line)}</tspan>'
                   for i, (line, joiner) in enumerate(lines))


def _box_lines(proc: Process, state_text: dict[str, str]) -> dict[str, list[tuple[str, str]]]:
    """Each state's label in lines that fit the width the Chinese labels need (the widest of them,
    or the smallest box's), widened a step at a time until no label needs more than MAX_LINES: a
    long translation (English is about twice as wide) wraps instead of widening the diagram."""
    width = max(BOX_W - 16, *(_text_px(proc.state_labels.get(s) or s) for s in proc.states))
    width = max(width, *(_text_px(piece) for t in state_text.values() for piece, _ in _pieces(t) or [(t, "")]))
    while True:
        lines = {s: _wrap(t, width) for s, t in state_text.items()}
        if max(len(v) for v in lines.values()) <= MAX_LINES:
            return lines
        width += 8


def render_svg(process: str | Process, current: str | None = None,
               translate: Callable[[str], str] = str) -> str:
    """The diagram of `process` (a name or a Process) as an <svg> element; `current` is drawn
    highlighted and marked with aria-current. Returns "" for an unknown process. `translate`
    turns each label (a workflow.errors.Msg) into the reader's language (the pages pass
    admin/labels.py:text); by default the Chinese labels are drawn."""
    proc = get_process(process) if isinstance(process, str) else process
    if proc is None:
        return ""
    rows = _layers(proc)
    state_text = {st: translate(proc.state_labels.get(st) or st) for st in proc.states}
    state_lines = _box_lines(proc, state_text)
    box_w = max(BOX_W, round(max(_text_px(line) for v in state_lines.values() for line, _ in v)) + 16)
    box_h = BOX_H + LINE_H * (max(len(v) for v in state_lines.values()) - 1)
    said = {key: translate(Msg.join(NAME_SEP, names))
            for key, names in edges(proc, lambda t: t.label or t.name).items()}
    row_of = {s: r for r, row in enumerate(rows) for s in row}
    # Names of arrows fanning out between the same two rows sit half a box apart: they get half
    # the width a lone arrow's name gets.
    fanning: dict[int, int] = {}
    for src, dst in said:
        if row_of[dst] == row_of[src] + 1:
            fanning[row_of[src]] = fanning.get(row_of[src], 0) + 1
    label_px = {(src, dst): _edge_label_px(box_w) / (2 if src != dst and fanning.get(row_of[src], 0) > 1 else 1)
                for src, dst in said}
    # each arrow's name wrapped once; the rows part far enough for the longest between them
    wrapped = {k: _wrap(t, label_px[k]) for k, t in said.items()}
    gap_y = max(GAP_Y, 22 + EDGE_LINE_H * max((len(lines) for lines in wrapped.values()), default=1))
    widest = max(len(r) for r in rows)
    width = MARGIN * 2 + widest * box_w + (widest - 1) * GAP_X + 2 * SIDE
    height = MARGIN * 2 + len(rows) * box_h + (len(rows) - 1) * gap_y
    pos: dict[str, tuple[float, float]] = {}
    for r, row in enumerate(rows):
        row_w = len(row) * box_w + (len(row) - 1) * GAP_X
        x0 = SIDE + (width - 2 * SIDE - row_w) / 2
        y = MARGIN + r * (box_h + gap_y)
        for i, state in enumerate(row):
            pos[state] = (x0 + i * (box_w + GAP_X), y)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="state-diagram" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" '
        f'role="img" aria-label="{escape(translate(Msg(TITLE, process=proc.label)))}" style="max-width:{width:.0f}px">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#6c757d"/></marker></defs>',
    ]
    labels_svg = []
    for (src, dst), text in said.items():
        title = escape(text)
        sx, sy = pos[src]
        dx, dy = pos[dst]
        if src == dst:
            row = rows[row_of[src]]
            left = len(row) > 1 and row[-1] != src  # a box with a right-hand neighbour loops on its left
            x, y = (sx, sy + box_h / 2) if left else (sx + box_w, sy + box_h / 2)
            out = -30 if left else 30
            path = f"M{x:.0f},{y - 8:.0f} C{x + out:.0f},{y - 22:.0f} {x + out:.0f},{y + 22:.0f} {x:.0f},{y + 8:.0f}"
            parts.append(f'<path class="edge loop" d="{path}" fill="none" stroke="#6c757d" '
                         f'marker-end="url(#arrow)"><title>{title}</title></path>')
            labels_svg.append(_label(x - 2, sy - 4, wrapped[src, dst], anchor="end") if left
                              else _label(x + 4, sy - 4, wrapped[src, dst], anchor="start"))
            continue
        if row_of[dst] > row_of[src] + 1:
            # skips rows: curve round the boxes in between on the right
            x1, y1 = sx + box_w, sy + box_h / 2
            x2, y2 = dx + box_w, dy + box_h / 2
            bend = max(x1, x2) + 18 + 4 * (row_of[dst] - row_of[src])
            path = f"M{x1:.0f},{y1:.0f} C{bend:.0f},{y1:.0f} {bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
            parts.append(f'<path class="edge" d="{path}" fill="none" stroke="#6c757d" '
                         f'marker-end="url(#arrow)"><title>{title}</title></path>')
        elif row_of[dst] > row_of[src]:
            x1, y1 = sx + box_w / 2, sy + box_h
            x2, y2 = dx + box_w / 2, dy
            parts.append(f'<line class="edge" x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" '
                         f'stroke="#6c757d" marker-end="url(#arrow)"><title>{title}</title></line>')
            labels_svg.append(_label((x1 + x2) / 2, (y1 + y2) / 2 + 4, wrapped[src, dst]))
        else:
            # back (or sideways) edge: a dashed curve bulging to the left of the boxes
            x1, y1 = sx, sy + box_h / 2
            x2, y2 = dx, dy + box_h / 2
            bend = max(4, min(x1, x2) - 28 - 6 * abs(row_of[src] - row_of[dst]))
            path = f"M{x1:.0f},{y1:.0f} C{bend:.0f},{y1:.0f} {bend:.0f},{y2:.0f} {x2:.0f},{y2:.0f}"
            parts.append(f'<path class="edge back" d="{path}" fill="none" stroke="#adb5bd" '
                         f'stroke-dasharray="4 3" marker-end="url(#arrow)"><title>{title}</title></path>')
    for state in proc.states:
        x, y = pos[state]
        is_current = state == current
        is_final = proc.is_final(state)
        fill = "#fde68a" if is_current else ("#e9ecef" if is_final else "#ffffff")
        stroke = "#b45309" if is_current else "#495057"
        width_attr = "3" if is_current else "1.2"
        lines = state_lines[state]
        cx = x + box_w / 2
        first = y + box_h / 2 + 5 - LINE_H * (len(lines) - 1) / 2  # the lines centred in the box
        label = _text_lines(lines, cx, first, LINE_H)
        attrs = ' aria-current="step"' if is_current else ""
        weight = ' font-weight="bold"' if is_current else ""
        parts.append(
            f'<g class="state{" current" if is_current else ""}" data-state="{escape(state)}"{attrs}>'
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{box_w}" height="{box_h}" rx="8" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{width_attr}"/>'
            f'<text x="{cx:.0f}" y="{first:.0f}" text-anchor="middle" '
            f'font-size="13"{weight}>{label}</text></g>')
    parts.extend(labels_svg)
    parts.append("</svg>")
    return "".join(parts)


def _edge_label_px(box_w: float) -> float:
    """How wide a lone arrow's name may be: a box and its gap at the phone's 12 px (`_text_px`
    counts 13 px); English names are long and would otherwise run into each other."""
    return (box_w + GAP_X) * 13 / 12


def _label(x: float, y: float, lines: list[tuple[str, str]], anchor: str = "middle") -> str:
    """An arrow's name at (x, y), as its wrapped lines (`_wrap`)."""
    top = y - EDGE_LINE_H * (len(lines) - 1) / 2
    body = _text_lines(lines, x, top, EDGE_LINE_H)
    return (f'<text class="edge-label" x="{x:.0f}" y="{top:.0f}" text-anchor="{anchor}" font-size="10" '
            f'fill="#495057" stroke="#fff" stroke-width="3" paint-order="stroke">{body}</text>')
