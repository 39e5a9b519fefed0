"""The stage timeline of a run page: bars from the manifest's stage times, lanes, inline SVG.

Pure functions. Stages that overlapped in time go on separate lanes, so a
reviewer sees what ran in parallel; each attempt (resumes included) is a bar.
templates/timeline.svg.j2 draws the layout as inline SVG.
"""

from __future__ import annotations

from datetime import datetime, timezone

COLOURS = {"succeeded": "#2e7d32", "done_earlier": "#5b9a5e", "failed": "#c62828",
           "blocked": "#d35400", "interrupted": "#7b3fa0", "running": "#1565c0",
           "pending": "#8a8a8a", "skipped": "#b0b0b0", "error": "#c62828", "warning": "#b26a00",
           # an operation's changes after --apply (changes.Change.status)
           "applied": "#2e7d32", "not attempted": "#8a8a8a", "nothing to do": "#9e9e9e"}

def parse_time(value) -> datetime | None:
    try:
        return value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def when(value, zone: str = " UTC") -> str:
    """A manifest time (ISO text or datetime) as 'YYYY-MM-DD HH:MM:SS UTC', or '-'."""
    moment = parse_time(value)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S") + zone if moment else "-"


def took(seconds) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}h {minutes % 60:02d}m" if minutes >= 60 else f"{minutes}m {secs:02d}s"


def timeline_bars(manifest: dict, now: datetime) -> list[dict]:
    """One bar per executed attempt (earlier ones included), by start time."""
    bars = []
    for name, entry in manifest.get("stages", {}).items():
        for attempt in [*entry.get("history", []), entry]:
            start = parse_time(attempt.get("started_at"))
            if start is None:
                continue
            status = attempt.get("status", "unknown")
            end = parse_time(attempt.get("ended_at")) or (now if status == "running" else start)
            bars.append({"stage": name, "status": "succeeded" if status == "done_earlier"
                         else status, "start": start, "end": max(start, end)})
    return sorted(bars, key=lambda b: (b["start"], b["stage"]))


def assign_lanes(bars: list[dict]) -> list[int]:
    """Bars that overlap in time go on separate lanes; each bar takes the first free lane."""
    ends, lanes = [], []
    for bar in bars:
        lane = next((i for i, end in enumerate(ends) if end <= bar["start"]), len(ends))
        ends[lane:lane + 1] = [bar["end"]]
        lanes.append(lane)
    return lanes


def by_invocation(bars: list[dict], invocations: list[dict]) -> list[list[dict]]:
    """Bars grouped by the invocation (first run, resumes) during which they started."""
    starts = sorted(filter(None, (parse_time(i.get("started_at")) for i in invocations)))
    groups = [[] for _ in starts] or [[]]
    for bar in bars:
        groups[max([k for k, s in enumerate(starts) if s <= bar["start"]], default=0)].append(bar)
    return groups


def _tick_step(span: float) -> int:
    steps = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
    return next((s for s in steps if span / s <= 8), steps[-1])


def _tick_label(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    parts = [(hours, "h"), (rest // 60, "m"), (rest % 60, "s")]
    return " ".join(f"{n}{unit}" for n, unit in parts if n) or "0s"


def place_label(texts: list[str], left: float, limit: float, floor: float) -> tuple[str, float]:
    """The first of `texts` that fits in [floor, limit], at `left` or shifted left; else the
    last one cut short at `left`. Widths are estimated at 6.8 units a character."""
    for text in texts:
        need = len(text) * 6.8
        start = max(floor, min(left, limit - need))
        if start + need <= limit:
            return text, start
    return texts[-1][: max(int((limit - left) / 6.8) - 1, 0)] + "…", left


def timeline_layout(bars: list[dict], width: int = 1000) -> dict:
    """Geometry of the timeline (templates/timeline.svg.j2 draws it): time axis ticks, a box
    per bar on its lane, labels alternating above/below."""
    lanes, t0 = assign_lanes(bars), bars[0]["start"]
    span = max(max((b["end"] - t0).total_seconds() for b in bars), 1.0)
    plot, lane_h, top = width - 16, 50, 20
    x = lambda t: 8 + plot * (t - t0).total_seconds() / span  # noqa: E731
    height = top + lane_h * (max(lanes) + 1)
    ticks = []
    for tick in range(0, int(span) + 1, _tick_step(span)):
        px, text = 8 + plot * tick / span, _tick_label(tick)
        # a label cut at the edge reads wrong: none there
        ticks.append({"x": round(px, 1), "label": text if px + 2 + len(text) * 6 <= width else None})
    placed = []
    for lane in range(max(lanes) + 1):
        mine, row_end = [b for b, n in zip(bars, lanes) if n == lane], [0.0, 0.0]
        for k, bar in enumerate(mine):  # labels of bars k and k + 2 share a row
            limit = x(mine[k + 2]["start"]) - 6 if k + 2 < len(mine) else width - 2
            seconds = (bar["end"] - bar["start"]).total_seconds()
            name = bar["stage"] + ("" if bar["status"] == "succeeded" else f" {bar['status']}")
            label, at = place_label([f"{name} {took(seconds)}", name], x(bar["start"]) + 1,
                                    limit, row_end[k % 2])
            row_end[k % 2] = at + len(label) * 6.8 + 6
            y = top + lane * lane_h
            placed.append({**bar, "x": round(x(bar["start"]), 1), "y": y + 16,
                           "width": round(max(x(bar["end"]) - x(bar["start"]), 2), 1),
                           "fill": COLOURS.get(bar["status"], "#555"), "label": label,
                           "label_x": round(at, 1), "label_y": y + (47 if k % 2 else 12),
                           "tip": f'{bar["stage"]}: {bar["status"]}, {when(bar["start"])}, {took(seconds)}'})
    return {"width": width, "height": height, "top": top, "ticks": ticks, "bars": placed}
