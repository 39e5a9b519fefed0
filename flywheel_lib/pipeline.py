"""The monthly refresh as one explicit table, and the pure planning over it (order, selection, resume).

The runner reads it; nothing else knows the order.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import RunError

NOTEBOOK_ROOT = Path(__file__).resolve().parent.parent / "notebooks"
DONE = ("succeeded", "done_earlier")  # a stage in these states need not run again


@dataclass(frozen=True)
class Stage:
    name: str
    notebook: str  # relative to notebooks/
    upstream: tuple[str, ...]
    produces: str

    @property
    def notebook_path(self) -> Path:
        return NOTEBOOK_ROOT / self.notebook


REFRESH = (
    Stage("addr_part", "refresh/01_addr_part.ipynb", (),
          "addressable_ids split into 256 id_bucket folders"),
    Stage("infobase_part", "refresh/02_infobase_part.ipynb", (),
          "the 27 infobase tables split per the mapping"),
    Stage("addr_glue_reg", "refresh/03_addr_glue_reg.ipynb", ("addr_part",),
          "catalog table part_addressable_ids (staged)"),
    Stage("infobase_glue_reg", "refresh/04_infobase_glue_reg.ipynb", ("infobase_part",),
          "catalog tables part_<table> (staged)"),
    Stage("glue_ready", "refresh/05_glue_ready.ipynb", ("addr_glue_reg", "infobase_glue_reg"),
          "partitions repaired, every table validated, the month published"),
    Stage("er_table", "refresh/06_er_table.ipynb", ("glue_ready",),
          "Entity Resolution input part_addressable_ids_er"),
    Stage("data_monitor_rpt", "refresh/07_data_monitor_rpt.ipynb", ("er_table",),
          "data quality report over every part_* table (not *_er), with month over month"),
    Stage("cr_rpt", "refresh/08_cr_rpt.ipynb", ("er_table",),
          "Clean Rooms readiness of every part_* table, the collaboration and the identity side"),
)


def stage_names(stages=REFRESH) -> list[str]:
    return [s.name for s in stages]


def order_stages(stages) -> list:
    """The stages in dependency order (table order where free); a broken table is an error."""
    names = [s.name for s in stages]
    for stage in stages:
        unknown = [u for u in stage.upstream if u not in names]
        if unknown or names.count(stage.name) > 1:
            raise RunError(f"stage table: {stage.name!r} is duplicated or has unknown "
                           f"upstream {unknown}", stage=stage.name)
    ordered, placed = [], set()
    while len(ordered) < len(stages):
        ready = [s for s in stages if s.name not in placed and set(s.upstream) <= placed]
        if not ready:
            raise RunError("stage table has a dependency cycle")
        ordered.append(ready[0])
        placed.add(ready[0].name)
    return ordered


def downstream(stages, names) -> set[str]:
    """`names` and every stage that depends on them, directly or not."""
    found = set(names)
    for stage in order_stages(stages):
        if found & set(stage.upstream):
            found.add(stage.name)
    return found


def select_stages(stages, only=(), start_from=(), skip=()) -> list[str]:
    """Names chosen by --only / --from (and downstream) / --skip, in dependency order."""
    known = [s.name for s in order_stages(stages)]
    for flag, given in (("--only", only), ("--from", start_from), ("--skip", skip)):
        unknown = [n for n in given if n not in known]
        if unknown:
            raise RunError(f"unknown stage {unknown[0]!r} in {flag}",
                           hint=f"Stages: {', '.join(known)}")
    chosen = [n for n in known if (not only or n in only) and n not in skip]
    if start_from:
        later = downstream(stages, start_from)
        chosen = [n for n in chosen if n in later]
    if not chosen:
        raise RunError("the stage selection is empty", hint=f"Stages: {', '.join(known)}")
    return chosen


def plan_actions(stages, selected, previous: dict | None = None) -> dict[str, str]:
    """Stage -> "run", "done_earlier" or "skipped" (not selected).

    `previous` maps stage -> status in the run being resumed. A stage that
    succeeded earlier runs again only when something it depends on reruns.
    """
    previous = previous or {}
    actions = {}
    for stage in order_stages(stages):
        if stage.name not in selected:
            actions[stage.name] = "skipped"
        elif previous.get(stage.name) in DONE and not any(
            actions.get(u) == "run" for u in stage.upstream
        ):
            actions[stage.name] = "done_earlier"
        else:
            actions[stage.name] = "run"
    return actions
