"""The split mapping: which raw infobase column goes to which published table.

`load_mapping()` reads the CSV, validates all of it and raises one
`MappingError` listing every problem with its line, table and column, so a
bad file is fixed in one pass rather than one error at a time. What is not
an error but changes the output (a table without a key row, a table over the
Clean Rooms column limit) is kept in `Mapping.decisions` for the run report.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import MappingError

KEY = "customer_user_id"
SOURCE_KEY = "Customer_User_id"
PARTITION_KEY = "id_bucket"
ADDRESSABLE_TABLE = "addressable_ids"  # the addressable IDs' output table (folder and part_ name)
CLEAN_ROOMS_COLUMN_LIMIT = 100
REQUIRED_HEADER = ("OMC_FLYWHEEL_TABLE", "OMC_FLYWHEEL_COLUMN", "FUNCTION_DESCRIPTION",
                   "OPUS_COLUMN", "ELEMENT_NUMBER")
COLUMN_PATTERN = re.compile(r"[a-z0-9_]+")  # what Clean Rooms accepts as a column name
MAX_LISTED_PROBLEMS = 20


@dataclass(frozen=True)
class MappedColumn:
    table: str
    column: str
    source: str
    description: str
    element_number: str
    line: int


@dataclass(frozen=True)
class Mapping:
    path: str
    tables: dict[str, tuple[MappedColumn, ...]]
    tables_without_key_row: tuple[str, ...]
    decisions: tuple[str, ...]

    def table_names(self) -> list[str]:
        return list(self.tables)

    def columns(self, table: str) -> tuple[MappedColumn, ...]:
        try:
            return self.tables[table]
        except KeyError:
            raise MappingError(
                f"table {table!r} is not in the split mapping", table=table, path=self.path,
                hint=f"Known tables: {', '.join(self.tables)}",
            ) from None

    def published_columns(self, table: str) -> list[str]:
        return [KEY] + [c.column for c in self.columns(table)]

    def source_columns(self) -> list[str]:
        return [c.source for columns in self.tables.values() for c in columns]

    def clean_rooms_exclusions(self) -> dict[str, list[str]]:
        """Tables over the limit -> the attribute columns their configured table leaves out."""
        return _exclusions(self.tables)

    @staticmethod
    def catalog_name(table: str) -> str:
        return "part_" + table.lower()


def default_mapping_path() -> Path:
    return Path(__file__).resolve().parent / "data" / "split_mapping.csv"


def load_mapping(path: str | Path | None = None) -> Mapping:
    """Read and validate the mapping at `path` (None or "", as an unset setting is: the packaged default)."""
    path = Path(path) if path else default_mapping_path()
    rows = _read_rows(path)
    problems: list[tuple[int, str, str]] = []  # (first line, table, message)
    tables: dict[str, list[MappedColumn]] = {}
    has_key_row: set[str] = set()
    for row in rows:
        problem = _row_problem(row)
        if problem:
            problems.append((row.line, row.table, problem))
        elif row.column == KEY:
            has_key_row.add(row.table)
            tables.setdefault(row.table, [])
        else:
            tables.setdefault(row.table, []).append(row)
    problems += _duplicate_problems(rows)
    if problems:
        raise _mapping_error(path, problems)

    frozen = {table: tuple(columns) for table, columns in tables.items()}
    without_key = tuple(t for t in frozen if t not in has_key_row)
    decisions = [f"{t} has no {KEY} row in the mapping; the key is added anyway" for t in without_key]
    for table, left_out in _exclusions(frozen).items():
        attributes = len(frozen[table])
        decisions.append(
            f"{table}: {attributes} attributes + {KEY} = {_allowed_width(frozen[table])} columns to allow, "
            f"over the Clean Rooms limit of {CLEAN_ROOMS_COLUMN_LIMIT} allowed columns ({PARTITION_KEY}, the "
            f"partition key, is not in the list); its configured table leaves out {', '.join(left_out)}, "
            f"which {'stays' if len(left_out) == 1 else 'stay'} in the data"
        )
    return Mapping(str(path), frozen, without_key, tuple(decisions))


def _exclusions(tables: dict[str, tuple[MappedColumn, ...]]) -> dict[str, list[str]]:
    """Tables with something to leave out, and what.

    The last attributes in mapping order go, so the choice is stable and
    visible in the CSV; the data keeps them, only the configured table does not.
    """
    out = {}
    for table, columns in tables.items():
        over = _allowed_width(columns) - CLEAN_ROOMS_COLUMN_LIMIT
        if over > 0:
            out[table] = [c.column for c in columns[-over:]]
    return out


def _allowed_width(attributes: tuple[MappedColumn, ...]) -> int:
    # Clean Rooms quotas, "Columns per configured table allowlist" (100): the key and the attributes;
    # the partition key is not a data column and is not in the allow-list.
    return 1 + len(attributes)


def _read_rows(path: Path) -> list[MappedColumn]:
    """The data rows, names normalised; header problems fail at once."""
    try:
        # utf-8-sig drops the byte-order mark the real file has, and reads one without it.
        with path.open(encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise MappingError("the split mapping is empty", path=str(path),
                                   hint=f"Expected a header row: {','.join(REQUIRED_HEADER)}")
            index = _header_index(header, path)
            rows = [_to_column(cells, index, reader.line_num) for cells in reader if any(cells)]
    except FileNotFoundError:
        raise MappingError("the split mapping file does not exist", path=str(path),
                           hint="Check the mapping_path setting ($FLYWHEEL_MAPPING)") from None
    except OSError as err:  # a folder, no permission...
        raise MappingError(f"the split mapping cannot be opened: {err.strerror}", path=str(path)) from err
    except (UnicodeDecodeError, csv.Error) as err:
        raise MappingError(f"the split mapping cannot be read as UTF-8 CSV: {err}", path=str(path),
                           hint="Save it as CSV, UTF-8 (a byte-order mark is fine)") from err
    if not rows:
        raise MappingError("the split mapping has a header but no data rows", path=str(path),
                           hint="Add one row per published column")
    return rows


def _header_index(header: list[str], path: Path) -> dict[str, int]:
    names = [h.strip().upper() for h in header]
    missing = [h for h in REQUIRED_HEADER if h not in names]
    if missing:
        raise MappingError(
            f"the split mapping header (line 1) lacks {', '.join(missing)}", path=str(path),
            hint=f"The header must name {','.join(REQUIRED_HEADER)} (any case, any order)",
        )
    return {h: names.index(h) for h in REQUIRED_HEADER}


def _to_column(cells: list[str], index: dict[str, int], line: int) -> MappedColumn:
    def cell(name: str) -> str:
        position = index[name]
        return cells[position].strip() if position < len(cells) else ""

    return MappedColumn(
        table=cell("OMC_FLYWHEEL_TABLE").upper(),
        column=cell("OMC_FLYWHEEL_COLUMN").lower(),
        source=cell("OPUS_COLUMN"),
        description=cell("FUNCTION_DESCRIPTION"),
        element_number=cell("ELEMENT_NUMBER"),
        line=line,
    )


def _row_problem(row: MappedColumn) -> str | None:
    """What is wrong with one row on its own, or None."""
    where = f"line {row.line}: table {row.table or '(empty)'}, column {row.column or '(empty)'}"
    if not row.table:
        return f"{where}: OMC_FLYWHEEL_TABLE is empty; fill in the table this column goes to"
    if not row.column:
        return f"{where}: OMC_FLYWHEEL_COLUMN is empty; fill in the published column name"
    if not COLUMN_PATTERN.fullmatch(row.column):
        return (f"{where}: the name may hold only a-z, 0-9 and _ (a Clean Rooms rule); "
                "rename it in OMC_FLYWHEEL_COLUMN")
    if row.column == PARTITION_KEY:
        return f"{where}: {PARTITION_KEY} is the partition key every table gets; remove this row"
    if row.column != KEY and not row.source:
        return f"{where}: OPUS_COLUMN is empty; fill in the raw column it is read from"
    return None


def _duplicate_problems(rows: list[MappedColumn]) -> list[tuple[int, str, str]]:
    """Columns twice in a table, in two tables, and raw columns read twice."""
    problems = []
    by_column: dict[str, list[MappedColumn]] = {}
    by_source: dict[str, list[MappedColumn]] = {}
    for row in rows:
        if row.table and row.column:
            by_column.setdefault(row.column, []).append(row)
        if row.column != KEY and row.source:
            by_source.setdefault(row.source.lower(), []).append(row)  # raw names match in any case
    for column, seen in by_column.items():
        tables = list(dict.fromkeys(r.table for r in seen))
        for table in tables:
            same = [r for r in seen if r.table == table]
            if len(same) > 1:
                message = f"table {table}, column {column}: appears {len(same)} times in {table}; keep one row"
                problems.append((same[0].line, table, f"{_lines(same)}: {message}"))
        if column != KEY and len(tables) > 1:
            names = ", ".join(tables)
            message = f"column {column} is mapped to tables {names}; a column belongs to one table, keep one"
            problems.append((seen[0].line, names, f"{_lines(seen)}: {message}"))
    for seen in by_source.values():
        if len({r.column for r in seen}) > 1:  # one column in two tables is reported above
            targets = ", ".join(f"{r.table}.{r.column}" for r in seen)
            message = f"OPUS_COLUMN {seen[0].source} is read for {targets}; map each raw column once"
            problems.append((seen[0].line, seen[0].table, f"{_lines(seen)}: {message}"))
    return problems


def _lines(rows: list[MappedColumn]) -> str:
    return "lines " + ", ".join(str(r.line) for r in rows)


def _mapping_error(path: Path, problems: list[tuple[int, str, str]]) -> MappingError:
    problems = sorted(problems)  # in file order, as someone fixing them reads it
    listed = [message for _, _, message in problems[:MAX_LISTED_PROBLEMS]]
    if len(problems) > MAX_LISTED_PROBLEMS:
        listed.append(f"and {len(problems) - MAX_LISTED_PROBLEMS} more")
    tables = {table for _, table, _ in problems}
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    return MappingError(
        f"the split mapping has {count}: " + "; ".join(listed),
        path=str(path),
        table=tables.pop() if len(tables) == 1 else None,
        hint="Fix every row listed, then load it again",
    )
