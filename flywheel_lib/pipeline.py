"""The monthly refresh as one explicit table. The runner reads it; nothing else knows the order."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

NOTEBOOK_ROOT = Path(__file__).resolve().parent.parent / "notebooks"


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
