"""Synthetic monthly snapshots shaped like the upstream delivery, for local runs and tests.

Values are realistic enough to exercise the split (codes, small integers,
amounts, coordinates, nulls) and the awkward cases of the key (non-ASCII,
very long). Every column has its own random stream seeded by (seed, column
name) and drawn a fixed number of times per row, so a row's values depend
only on the seed and its position: batching and file count do not change the
data. Batches are generated column by column with numpy and streamed to
Parquet, so memory depends on the batch size, not the row count.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from . import drift
from .errors import SnapshotError
from .mapping import SOURCE_KEY, Mapping, load_mapping
from .snapshots import DATASETS

LOW40 = np.uint64((1 << 40) - 1)  # value bits of a draw; the top 24 decide nulls
# Key families: row -> (row * step + offset) mod span is a bijection (step coprime to span);
# steps near span/golden ratio make neighbouring rows' keys look unrelated.
DIGIT_SPAN, DIGIT_STEP = 900_000_000_000, 556_230_589_061  # 12-digit keys
ALNUM_SPAN, ALNUM_STEP = 62**5, 566_201_857  # 5-character keys
ALNUM = np.frombuffer(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", np.uint8)
HEX = np.frombuffer(b"0123456789abcdef", np.uint8)
DIGITS = HEX[:10]


@dataclass(frozen=True)
class WrittenSnapshot:
    snapshot_dt: str
    rows: int
    files: dict[str, list[str]]


@dataclass(frozen=True)
class ColumnSpec:
    """How one column is drawn: `render(draws (n, per_row) uint64, null mask) -> values`."""

    name: str
    type: pa.DataType
    null_rate: float
    render: Callable[[np.ndarray, np.ndarray], pa.Array] | None  # None: the key (see _keys)
    per_row: int = 1


def snapshot_dir(data_root: str | Path, dataset: str, snapshot_dt: str) -> Path:
    return Path(data_root) / "opus" / dataset / "raw_input" / f"snapshot_dt={snapshot_dt}"


def write_snapshot(data_root, snapshot_dt: str, rows: int, *, seed: int = 42, mapping: Mapping | None = None,
                   files: int = 2, batch_rows: int = 50_000, datasets=DATASETS,
                   overwrite: bool = False, monthly: bool = False) -> WrittenSnapshot:
    """Write `rows` customers for `snapshot_dt` into every dataset, each folder swapped in whole.

    `monthly`: make consecutive months differ as real deliveries do (drift.py): some customers
    leave and others join (so the count is `drift.customers(rows, snapshot_dt)`, not `rows`),
    a few null rates move, now and then the addressable IDs gain or lose a column.
    """
    _check_arguments(snapshot_dt, rows, seed, files, batch_rows, datasets)
    first_row, rows = drift.customers(rows, snapshot_dt) if monthly else (0, rows)
    targets = {ds: snapshot_dir(data_root, ds, snapshot_dt) for ds in datasets}
    existing = [str(t) for t in targets.values() if t.exists()]
    if existing and not overwrite:
        raise SnapshotError(f"snapshot {snapshot_dt} already exists", path=existing[0],
                            hint="Pick another --snapshot-dt, or pass overwrite=True (--overwrite)")
    mapping = mapping if mapping is not None else load_mapping()
    written = {}
    for dataset, target in targets.items():
        specs = _specs(dataset, snapshot_dt, mapping)
        specs = drift.vary(specs, dataset, snapshot_dt, _code_spec, _number_spec) if monthly else specs
        written[dataset] = _write_dataset(target, specs, seed, (first_row, rows), files, batch_rows)
    return WrittenSnapshot(snapshot_dt, rows, written)


def _check_arguments(snapshot_dt, rows, seed, files, batch_rows, datasets) -> None:
    try:  # the length check: Python 3.11 also reads 20261001 as a date
        valid = len(snapshot_dt) == 10 and bool(date.fromisoformat(snapshot_dt))
    except (TypeError, ValueError):
        valid = False
    if not valid:
        raise SnapshotError(f"snapshot_dt {snapshot_dt!r} is not a YYYY-MM-DD date")
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise SnapshotError(f"unknown dataset(s) {', '.join(unknown)}", hint=f"Use {', '.join(DATASETS)}")
    if rows < 1 or files < 1 or batch_rows < 1 or seed < 0:
        raise SnapshotError(f"rows, files and batch_rows must be positive and seed not negative "
                            f"(got rows={rows}, files={files}, batch_rows={batch_rows}, seed={seed})")


def _write_dataset(target: Path, specs: list[ColumnSpec], seed: int, rows: tuple[int, int],
                   files: int, batch_rows: int) -> list[str]:
    """Write into a hidden sibling, then swap it in, so readers never see half a snapshot."""
    staging = target.with_name(f".{target.name}.tmp")  # leading dot: readers skip it
    retired = target.with_name(f".{target.name}.old")
    for leftover in (staging, retired):
        shutil.rmtree(leftover, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        names = _write_files(staging, specs, seed, rows, files, batch_rows)
        if target.exists():
            target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [str(target / name) for name in names]


def _write_files(folder: Path, specs: list[ColumnSpec], seed: int, rows: tuple[int, int],
                 files: int, batch_rows: int) -> list[str]:
    """Spread rows (first row number, count) over the files in order, one batch in memory at a time.

    Each stream is moved to the first row, so a customer's values do not depend on who else is in
    the snapshot."""
    first_row, count = rows
    streams = [_stream(seed, spec.name).advance(first_row * spec.per_row) for spec in specs]
    schema = pa.schema([pa.field(spec.name, spec.type) for spec in specs])
    bounds = [first_row + count * i // files for i in range(files + 1)]
    names = []
    for start, stop in zip(bounds, bounds[1:]):
        if stop == start:  # more files than rows: no empty files
            continue
        names.append(f"part-{len(names):05d}.parquet")
        with _writer(folder / names[-1], schema) as writer:
            for first in range(start, stop, batch_rows):
                count = min(batch_rows, stop - first)
                writer.write_batch(_batch(specs, streams, schema, first, count, seed))
    return names


def _writer(path: Path, schema: pa.Schema) -> pq.ParquetWriter:
    # No Arrow schema in the files (Spark writes none either): code columns read back as strings.
    # Statistics only on the key: on 1,700 columns they cost a third of the write time.
    return pq.ParquetWriter(path, schema, compression="snappy", store_schema=False,
                            write_statistics=[SOURCE_KEY])


def _batch(specs, streams, schema, first: int, count: int, seed: int) -> pa.RecordBatch:
    arrays = []
    for spec, stream in zip(specs, streams):
        draws = stream.random_raw(count * spec.per_row).reshape(count, spec.per_row)
        if spec.render is None:  # the key: a function of the row number, not only of the draws
            arrays.append(_keys(draws[:, 0], first, seed))
            continue
        threshold = np.uint64(int(spec.null_rate * (1 << 24)))
        nulls = (draws[:, 0] >> np.uint64(40)) < threshold
        arrays.append(spec.render(draws, nulls))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _stream(seed: int, name: str) -> np.random.PCG64:
    return np.random.PCG64(np.random.SeedSequence([seed, _name_hash(name)]))


def _name_hash(name: str) -> int:
    """Stable across runs and machines (unlike hash()); case-blind like upstream matching."""
    return int.from_bytes(hashlib.blake2b(name.lower().encode(), digest_size=8).digest(), "little")


# --- keys ---------------------------------------------------------------------------------

def _keys(draws: np.ndarray, first: int, seed: int) -> pa.Array:
    """Unique keys: 12 digits (most), 5 letters/digits (~30%), a few non-ASCII or 64 chars long.

    Each family is a bijection of the row number and the families cannot look
    alike (length, characters), so keys are unique without remembering them.
    """
    rows = np.arange(first, first + len(draws), dtype=np.uint64)
    offsets = np.random.SeedSequence([seed, 1]).generate_state(2, np.uint64)
    digits = _permute(rows, DIGIT_STEP, int(offsets[0]), DIGIT_SPAN) + np.uint64(100_000_000_000)
    keys = pa.array(digits).cast(pa.string())
    alnum = _digits(_permute(rows, ALNUM_STEP, int(offsets[1]), ALNUM_SPAN), ALNUM, 5)
    pick = (draws >> np.uint64(32)) < np.uint64(int(0.3 * (1 << 32)))
    keys = pc.replace_with_mask(keys, pa.array(pick), alnum.filter(pa.array(pick)))
    odd = np.flatnonzero(np.isin(rows % np.uint64(500), [3, 11]))
    if len(odd):
        awkward = [_awkward_key(int(rows[i]), seed, alnum[i].as_py()) for i in odd]
        mask = np.zeros(len(rows), bool)
        mask[odd] = True
        keys = pc.replace_with_mask(keys, pa.array(mask), pa.array(awkward, pa.string()))
    return keys


def _permute(rows: np.ndarray, step: int, offset: int, span: int) -> np.ndarray:
    """(rows * step + offset) % span in uint64 without overflow, for rows below 2**40.

    rows = high * 2**20 + low, so each product stays below 2**61.
    """
    high, low = rows >> np.uint64(20), rows & np.uint64((1 << 20) - 1)
    total = high * np.uint64((step << 20) % span) + low * np.uint64(step) + np.uint64(offset % span)
    return total % np.uint64(span)


def _awkward_key(row: int, seed: int, alnum: str) -> str:
    if row % 500 == 3:
        return f"Zoé_{alnum}"
    digest = hashlib.sha256(f"{seed}:{row}".encode()).hexdigest()
    return f"{digest[:52]}{row:012d}"  # 64 characters, unique by the row number


def _digits(values: np.ndarray, alphabet: np.ndarray, width: int, nulls=None) -> pa.Array:
    """`values` written in base len(alphabet) as fixed-width strings, leading "zeros" kept."""
    values, base = values.astype(np.uint64), np.uint64(len(alphabet))
    chars = np.empty((len(values), width), np.uint8)
    for position in range(width - 1, -1, -1):
        chars[:, position] = alphabet[values % base]
        values = values // base
    return _fixed_width(chars, nulls)


def _fixed_width(chars: np.ndarray, nulls: np.ndarray | None) -> pa.Array:
    """A string array from an (n, width) byte matrix, without a Python object per cell."""
    n, width = chars.shape
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    validity = None
    if nulls is not None and nulls.any():
        validity = pa.py_buffer(np.packbits(~nulls, bitorder="little"))
    return pa.Array.from_buffers(pa.string(), n, [validity, pa.py_buffer(offsets),
                                                  pa.py_buffer(np.ascontiguousarray(chars))])


# --- columns ------------------------------------------------------------------------------

def _specs(dataset: str, snapshot_dt: str, mapping: Mapping) -> list[ColumnSpec]:
    key = ColumnSpec(SOURCE_KEY, pa.string(), 0.0, render=None)
    if dataset == "addressable_ids":
        return [key, *_addressable_specs(snapshot_dt)]
    sources = [s for s in mapping.source_columns() if s.lower() != SOURCE_KEY.lower()]
    return [key, *(_attribute_spec(name) for name in sources)]


def _addressable_specs(snapshot_dt: str) -> list[ColumnSpec]:
    last_day = date.fromisoformat(snapshot_dt).toordinal() - date(1970, 1, 1).toordinal()
    return [
        ColumnSpec("Hashed_Email", pa.string(), 0.12, _hex_digest, per_row=5),
        ColumnSpec("Postal_Code", pa.string(), 0.02, _postal_code),
        _code_spec("Country_Code", ("US", "PR", "CA", "GU", "VI"), 0.0, skew=8),
        _code_spec("Record_Source", ("OPUS", "IBE_COMPILED", "PARTNER_FEED", "WEB_REGISTRATION"), 0.0, skew=2),
        _number_spec("First_Seen_Dt", pa.date32(), 0.01, lambda u: last_day - (6000 * u).astype(np.int32)),
    ]


def _attribute_spec(name: str) -> ColumnSpec:
    """Type and distribution from the column name, so every run agrees on them."""
    low, h = name.lower(), _name_hash(name)
    null_rate = 0.0 if h % 4 == 0 else (h >> 8) % 3001 / 10_000  # a quarter fully populated
    size = h >> 30
    if low.endswith("latitude") or low.endswith("longitude"):
        lo, hi = (24.5, 49.0) if low.endswith("latitude") else (-124.7, -66.9)
        return _number_spec(name, pa.float64(), null_rate, lambda u: np.round(lo + (hi - lo) * u, 6))
    kind = (h >> 20) % 10
    if low.startswith("miacs_"):
        if kind < 6:  # census shares in percent, else medians in whole hundreds
            return _number_spec(name, pa.float64(), null_rate, lambda u: np.floor(1001 * u) / 10)
        return _number_spec(name, pa.int64(), null_rate, lambda u: (100 + 2400 * u).astype(np.int64) * 100)
    if kind < 3:
        letters = tuple(chr(65 + i) for i in range(2 + size % 25))
        return _code_spec(name, letters, null_rate, skew=2)
    if kind < 5:
        return _code_spec(name, tuple(f"{i:02d}" for i in range(1, 6 + size % 94)), null_rate, skew=1)
    if kind < 7:
        return _code_spec(name, ("Y", "N"), null_rate, skew=1 + size % 3)
    if kind < 9:
        top = 1 + size % 30
        return _number_spec(name, pa.int32(), null_rate, lambda u: ((top + 1) * u * u).astype(np.int32))
    # Amounts: whole multiples of a unit (0.5 .. 1000), mostly small, as estimates are.
    unit, mean = (0.5, 1.0, 10.0, 100.0, 1000.0)[size % 5], 20 + size % 200
    return _number_spec(name, pa.float64(), null_rate, lambda u: np.floor(-np.log1p(-u) * mean) * unit)


def _value(draws: np.ndarray) -> np.ndarray:
    """Uniform [0, 1) from the low 40 bits of each row's first draw."""
    return (draws[:, 0] & LOW40).astype(np.float64) * 2.0**-40


def _number_spec(name, arrow_type, null_rate, values: Callable[[np.ndarray], np.ndarray]) -> ColumnSpec:
    """A numeric (or date) column: `values` maps uniform [0, 1) draws to the column's values."""
    return ColumnSpec(name, arrow_type, null_rate,
                      lambda d, nulls: pa.array(values(_value(d)), arrow_type, mask=nulls))


def _code_spec(name: str, codes: tuple[str, ...], null_rate: float, skew: int) -> ColumnSpec:
    """Codes from a fixed list; skew > 1 makes the first codes the common ones, as in real data.

    Dictionary-encoded in memory (a byte a cell, and Parquet writes it as is);
    the files do not record that, so readers see plain strings.
    """
    dictionary = pa.array(codes, pa.string())
    arrow_type = pa.dictionary(pa.int8(), pa.string())

    def render(draws, nulls):
        u = _value(draws)
        index = pa.array((len(codes) * (u**skew if skew > 1 else u)).astype(np.int8), mask=nulls)
        return pa.DictionaryArray.from_arrays(index, dictionary)

    return ColumnSpec(name, arrow_type, null_rate, render)


def _hex_digest(draws: np.ndarray, nulls: np.ndarray) -> pa.Array:
    """A 64-character lower-case hex string per row (like a SHA-256 of an e-mail)."""
    raw = np.ascontiguousarray(draws[:, 1:]).view(np.uint8)  # 32 bytes a row
    chars = np.empty((len(raw), 64), np.uint8)
    chars[:, 0::2], chars[:, 1::2] = HEX[raw >> 4], HEX[raw & 15]
    return _fixed_width(chars, nulls)


def _postal_code(draws: np.ndarray, nulls: np.ndarray) -> pa.Array:
    number = (_value(draws) * 99_950).astype(np.uint64) + np.uint64(501)  # US ZIP codes start at 00501
    return _digits(number, DIGITS, 5, nulls)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m flywheel_lib.synthetic",
                                     description="Write a synthetic monthly snapshot of both raw datasets.")
    parser.add_argument("--data-root", help="lake root (default: the data_root setting)")
    parser.add_argument("--snapshot-dt", required=True, help="YYYY-MM-DD")
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--files", type=int, default=2, help="Parquet files per dataset")
    parser.add_argument("--mapping", help="split mapping CSV (default: the packaged one)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing snapshot")
    parser.add_argument("--monthly", action="store_true",
                        help="vary customers, null rates and columns by month, as real deliveries do")
    args = parser.parse_args(argv)
    data_root = args.data_root
    if not data_root:
        from .config import load_settings  # settings are read only when no root is given
        data_root = load_settings().data_root
    written = write_snapshot(data_root, args.snapshot_dt, args.rows, seed=args.seed, files=args.files,
                             mapping=load_mapping(args.mapping), overwrite=args.overwrite,
                             monthly=args.monthly)
    for dataset, paths in written.files.items():
        print(f"{dataset}: {written.rows} rows in {len(paths)} files under {Path(paths[0]).parent}")


if __name__ == "__main__":
    main()
