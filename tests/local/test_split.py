"""The local split: raw snapshot -> 256 id_bucket folders per table, as Glue and Athena read them.

Output is read back with pyarrow's dataset reader (hive partitioning), not with
the DuckDB that wrote it, and compared with the raw Parquet row by row.
"""

import json
import shutil
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from flywheel_lib import lake
from flywheel_lib.bucketing import id_bucket
from flywheel_lib.errors import SplitError
from flywheel_lib.local.split import split_snapshot
from flywheel_lib.mapping import KEY, SOURCE_KEY, load_mapping
from flywheel_lib.snapshots import find_snapshot
from flywheel_lib.synthetic import snapshot_dir, write_snapshot

MAPPING_CSV = Path(__file__).parent.parent / "fixtures" / "engine_mapping.csv"
DT = "2026-10-01"
ROWS = 300
BUCKET_FOLDERS = {f"id_bucket={b}" for b in range(256)}
ADDRESSABLE_COLUMNS = [KEY, "hashed_email", "postal_code", "country_code", "record_source", "first_seen_dt"]


# --- helpers -------------------------------------------------------------------------------

def snapshot_of(root: Path, dataset: str, dt: str = DT):
    return find_snapshot(Path(root) / "opus" / dataset / "raw_input", dataset, dt[:7])


def read_output(location) -> pa.Table:
    """A split table as a hive-partitioned reader sees it: data columns plus id_bucket."""
    partitioning = ds.partitioning(pa.schema([("id_bucket", pa.int32())]), flavor="hive")
    return ds.dataset(location, format="parquet", partitioning=partitioning).to_table()


def read_raw(snapshot) -> pa.Table:
    return pa.concat_tables(pq.read_table(f.path) for f in snapshot.files)


def rows(table: pa.Table, columns: list[str]) -> Counter:
    """Each row as a tuple of the given columns, counted (duplicates stay visible)."""
    data = table.select(columns).to_pylist()
    return Counter(tuple(r[c] for c in columns) for r in data)


def raw_rows(raw: pa.Table, published: list[str]) -> Counter:
    """The raw rows under their published names (raw names matched in any case)."""
    by_lower = {name.lower(): name for name in raw.column_names}
    renamed = raw.select([by_lower[c] for c in published]).rename_columns(published)
    return rows(renamed, published)


def data_files(location) -> list[Path]:
    return sorted(Path(location).glob("id_bucket=*/*.parquet"))


def write_raw(root: Path, dataset: str, table: pa.Table, dt: str = DT):
    folder = snapshot_dir(root, dataset, dt)
    folder.mkdir(parents=True)
    pq.write_table(table, folder / "part-00000.parquet")
    return snapshot_of(root, dataset, dt)


# --- the small snapshot, split once --------------------------------------------------------

@pytest.fixture(scope="module")
def small_mapping():
    return load_mapping(MAPPING_CSV)


@pytest.fixture(scope="module")
def split_lake(tmp_path_factory, small_mapping):
    """300 synthetic customers split with the 3-table mapping, run r1."""
    root = tmp_path_factory.mktemp("split")
    write_snapshot(root, DT, ROWS, seed=11, mapping=small_mapping, files=2)
    snapshots = {d: snapshot_of(root, d) for d in ("addressable_ids", "infobase_attributes")}
    out = root / "out"
    outputs = split_snapshot(snapshots["addressable_ids"], str(out / "addressable_ids"), "r1")
    outputs += split_snapshot(snapshots["infobase_attributes"], str(out / "infobase_attributes"), "r1",
                              small_mapping)
    return {"root": root, "out": out, "snapshots": snapshots, "outputs": {o.table: o for o in outputs}}


def published_columns(table: str, mapping) -> list[str]:
    return ADDRESSABLE_COLUMNS if table == "addressable_ids" else mapping.published_columns(table)


def test_the_split_writes_one_table_per_mapping_table_plus_addressable_ids(split_lake):
    assert list(split_lake["outputs"]) == ["addressable_ids", "NEW_BORROWERS", "IBE_01", "MIACS_01"]
    for output in split_lake["outputs"].values():
        assert output.rows == ROWS and not output.reused


def test_every_source_row_appears_once_in_every_table(split_lake):
    for table, output in split_lake["outputs"].items():
        raw = read_raw(split_lake["snapshots"][output.dataset])
        keys = Counter(read_output(output.location).column(KEY).to_pylist())
        assert keys == Counter(raw.column(SOURCE_KEY).to_pylist()), table
        assert sum(keys.values()) == ROWS


def test_each_row_sits_in_the_bucket_id_bucket_gives(split_lake):
    for table, output in split_lake["outputs"].items():
        data = read_output(output.location)
        wrong = [(k, b) for k, b in zip(data.column(KEY).to_pylist(), data.column("id_bucket").to_pylist())
                 if b != id_bucket(k)]
        assert wrong == [], table


def test_every_table_has_exactly_256_bucket_folders(split_lake):
    for table, output in split_lake["outputs"].items():
        version = Path(output.location)
        assert {p.name for p in version.iterdir() if p.is_dir()} == BUCKET_FOLDERS, table
        assert {p.name for p in version.iterdir() if p.is_file()} == {lake.MARKER}, table


def test_empty_buckets_hold_an_empty_file_with_the_table_schema(split_lake):
    raw_keys = read_raw(split_lake["snapshots"]["addressable_ids"]).column(SOURCE_KEY).to_pylist()
    empty = set(range(256)) - {id_bucket(k) for k in raw_keys}
    assert len(empty) > 20  # 300 keys leave many of the 256 buckets empty
    for table, output in split_lake["outputs"].items():
        version = Path(output.location)
        schemas = {}
        for bucket in range(256):
            files = list((version / f"id_bucket={bucket}").glob("*.parquet"))
            assert files, f"{table} id_bucket={bucket} has no file"
            counts = sum(pq.ParquetFile(f).metadata.num_rows for f in files)
            assert (counts == 0) == (bucket in empty), f"{table} id_bucket={bucket}"
            schemas[bucket] = pq.read_schema(files[0])
        full = next(schemas[b] for b in range(256) if b not in empty)
        assert all(schemas[b].equals(full) for b in empty), table


def test_columns_are_lower_case_with_the_key_renamed_in_mapping_order(split_lake, small_mapping):
    for table in small_mapping.table_names():
        output = split_lake["outputs"][table]
        expected = small_mapping.published_columns(table)
        assert output.columns == expected
        for path in data_files(output.location)[:3]:
            assert pq.read_schema(path).names == expected, table
    # MIACS_01's mapping has no key row: it gets the key anyway, first
    assert split_lake["outputs"]["MIACS_01"].columns[0] == KEY


def test_addressable_ids_publishes_exactly_the_raw_columns(split_lake):
    output = split_lake["outputs"]["addressable_ids"]
    assert output.columns == ADDRESSABLE_COLUMNS
    assert pq.read_schema(data_files(output.location)[0]).names == ADDRESSABLE_COLUMNS


def test_values_equal_the_source(split_lake, small_mapping):
    for table, output in split_lake["outputs"].items():
        columns = published_columns(table, small_mapping)
        raw = read_raw(split_lake["snapshots"][output.dataset])
        assert rows(read_output(output.location), columns) == raw_rows(raw, columns), table


def test_the_marker_records_what_was_written(split_lake):
    output = split_lake["outputs"]["IBE_01"]
    marker = json.loads((Path(output.location) / lake.MARKER).read_text())
    assert marker["rows"] == ROWS and marker["snapshot_dt"] == DT and marker["run_id"] == "r1"
    assert marker["columns"] == output.columns


# --- re-runs ---------------------------------------------------------------------------------

def test_a_rerun_of_the_same_run_reuses_the_finished_tables(split_lake, small_mapping):
    before = {t: (o.location, [p.stat().st_mtime_ns for p in data_files(o.location)])
              for t, o in split_lake["outputs"].items()}
    again = split_snapshot(split_lake["snapshots"]["infobase_attributes"],
                           str(split_lake["out"] / "infobase_attributes"), "r1", small_mapping)
    assert [o.reused for o in again] == [True, True, True]
    for output in again:
        assert output.rows == ROWS
        location, mtimes = before[output.table]
        assert output.location == location
        assert [p.stat().st_mtime_ns for p in data_files(location)] == mtimes  # not rewritten


def test_an_interrupted_write_is_cleaned_up_and_redone(tmp_path, split_lake, small_mapping):
    out = str(tmp_path / "infobase_attributes")
    snapshot = split_lake["snapshots"]["infobase_attributes"]
    split_snapshot(snapshot, out, "r3", small_mapping)
    # IBE_01 was being written when the process died: only its hidden temporary folder exists
    final = lake.version_dir(out, "IBE_01", DT, "r3")
    shutil.rmtree(final)
    temp = lake.temp_dir_for(final)
    (temp / "id_bucket=0").mkdir(parents=True)
    (temp / "id_bucket=0" / "stale.parquet").write_bytes(b"half a file")

    again = {o.table: o for o in split_snapshot(snapshot, out, "r3", small_mapping)}

    assert {t: o.reused for t, o in again.items()} == {"NEW_BORROWERS": True, "IBE_01": False, "MIACS_01": True}
    assert not temp.exists()
    assert [p.name for p in final.parent.iterdir()] == [final.name]
    assert {p.name for p in final.iterdir() if p.is_dir()} == BUCKET_FOLDERS
    assert not list(final.glob("*/stale.parquet"))
    assert again["IBE_01"].rows == ROWS
    assert rows(read_output(final), again["IBE_01"].columns) == raw_rows(read_raw(snapshot), again["IBE_01"].columns)


def test_a_redelivered_snapshot_is_split_again_under_the_same_run(tmp_path, small_mapping):
    write_snapshot(tmp_path, DT, 40, seed=1, mapping=small_mapping, datasets=("addressable_ids",))
    out = str(tmp_path / "out")
    first = split_snapshot(snapshot_of(tmp_path, "addressable_ids"), out, "r1")
    write_snapshot(tmp_path, DT, 60, seed=2, mapping=small_mapping, datasets=("addressable_ids",), overwrite=True)
    snapshot = snapshot_of(tmp_path, "addressable_ids")
    second = split_snapshot(snapshot, out, "r1")
    assert first[0].rows == 40
    assert (second[0].reused, second[0].rows) == (False, 60)
    assert Counter(read_output(second[0].location).column(KEY).to_pylist()) == Counter(
        read_raw(snapshot).column(SOURCE_KEY).to_pylist())


def test_another_run_writes_its_own_version_beside_the_first(tmp_path, small_mapping):
    write_snapshot(tmp_path, DT, 40, seed=1, mapping=small_mapping, datasets=("addressable_ids",))
    out = str(tmp_path / "out")
    snapshot = snapshot_of(tmp_path, "addressable_ids")
    first = split_snapshot(snapshot, out, "r1")[0]
    second = split_snapshot(snapshot, out, "r2")[0]
    assert not second.reused and second.location != first.location
    assert [(dt, run) for dt, run, _ in lake.versions(out, "addressable_ids")] == [(DT, "r1"), (DT, "r2")]
    assert sum(pq.ParquetFile(f).metadata.num_rows for f in data_files(first.location)) == 40


# --- failures ------------------------------------------------------------------------------------

def test_a_mapping_column_missing_from_the_raw_data_fails_naming_it(tmp_path, split_lake):
    text = MAPPING_CSV.read_text(encoding="utf-8-sig")
    text += "IBE_01,ibe9999_01,Not delivered,IBE9999_01,9999\r\nMIACS_01,miacs_99_999,Not delivered,miACS_99_999,\r\n"
    csv = tmp_path / "mapping.csv"
    csv.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(SplitError) as err:
        split_snapshot(split_lake["snapshots"]["infobase_attributes"], str(out), "r1", load_mapping(csv))
    message = str(err.value)
    assert "2 mapping column(s) missing" in message
    assert "IBE_01.IBE9999_01" in message and "MIACS_01.miACS_99_999" in message
    assert "NB_Flag" not in message  # only the missing ones are named
    assert not out.exists() or not any(out.rglob("*"))  # no table written, not even the complete ones


def test_a_mapping_column_found_in_another_case_is_not_missing(tmp_path, split_lake):
    """Raw names are matched in any case (the upstream delivers mixed case)."""
    text = MAPPING_CSV.read_text(encoding="utf-8-sig").replace("miACS_AreaLatitude", "MIACS_AREALATITUDE")
    csv = tmp_path / "mapping.csv"
    csv.write_text(text, encoding="utf-8")
    outputs = split_snapshot(split_lake["snapshots"]["infobase_attributes"], str(tmp_path / "out"), "r1",
                             load_mapping(csv), tables=["MIACS_01"])
    assert outputs[0].columns == [KEY, "miacs_arealatitude", "miacs_01_001"]
    assert read_output(outputs[0].location).column("miacs_arealatitude").null_count == 0


@pytest.mark.parametrize("dataset", ["addressable_ids", "infobase_attributes"])
def test_raw_data_without_a_key_column_fails(tmp_path, small_mapping, dataset):
    raw = pa.table({"Customer_Id": ["a", "b"], "NB_Flag": ["Y", "N"], "NB_Loan_Amount_Range": [1, 2]})
    snapshot = write_raw(tmp_path, dataset, raw)
    out = tmp_path / "out"
    mapping = small_mapping if dataset == "infobase_attributes" else None
    with pytest.raises(SplitError) as err:
        split_snapshot(snapshot, str(out), "r1", mapping, tables=["NEW_BORROWERS"] if mapping else None)
    assert "key column Customer_User_id" in str(err.value)
    assert "Customer_Id" in str(err.value)  # what it saw instead
    assert not out.exists()


@pytest.mark.parametrize("column", ["file_index", "File_Row_Number"])
def test_raw_data_with_a_column_named_like_a_row_position_fails(tmp_path, column):
    # Such a column would hide the row position the bucket lookup relies on.
    raw = pa.table({"Customer_User_id": ["a", "b"], column: [7, 9]})
    snapshot = write_raw(tmp_path, "addressable_ids", raw)
    out = tmp_path / "out"
    with pytest.raises(SplitError) as err:
        split_snapshot(snapshot, str(out), "r1", None)
    assert column in str(err.value)
    assert not out.exists()


# --- awkward keys --------------------------------------------------------------------------------

AWKWARD = [None, "dup-1", "dup-1", "é", "", "x" * 200, "Zoé_ü漢字😀", "434439589175", "KLzd", "0IgxL", " padded "]


@pytest.fixture(scope="module")
def awkward_split(tmp_path_factory):
    """Hand-made addressable IDs with a null key, a duplicate and awkward keys; `value` tells rows apart."""
    root = tmp_path_factory.mktemp("awkward")
    raw = pa.table({SOURCE_KEY: pa.array(AWKWARD, pa.string()), "Value": list(range(len(AWKWARD)))})
    snapshot = write_raw(root, "addressable_ids", raw)
    output = split_snapshot(snapshot, str(root / "out"), "r1")[0]
    data = read_output(output.location)
    return output, data.select([KEY, "value", "id_bucket"]).to_pylist()


def test_a_null_key_lands_in_bucket_42(awkward_split):
    _, data = awkward_split
    assert [r for r in data if r[KEY] is None] == [{KEY: None, "value": 0, "id_bucket": 42}]


def test_duplicate_keys_are_kept(awkward_split):
    output, data = awkward_split
    duplicates = sorted((r["value"], r["id_bucket"]) for r in data if r[KEY] == "dup-1")
    assert duplicates == [(1, id_bucket("dup-1")), (2, id_bucket("dup-1"))]
    assert output.rows == len(AWKWARD)


def test_awkward_keys_are_kept_exactly_and_bucket_like_spark(awkward_split):
    _, data = awkward_split
    found = {r["value"]: (r[KEY], r["id_bucket"]) for r in data}
    assert len(found) == len(AWKWARD)
    for value, key in enumerate(AWKWARD):
        assert found[value] == (key, id_bucket(key)), repr(key)
    # Spark's own vectors, as written to disk
    assert {found[v][0]: found[v][1] for v in (3, 4, 7, 8, 9)} == {
        "é": 180, "": 4, "434439589175": 32, "KLzd": 125, "0IgxL": 98}


# --- the real mapping, once ------------------------------------------------------------------

def test_the_default_mapping_splits_every_table_completely(tmp_path):
    mapping = load_mapping()
    write_snapshot(tmp_path, DT, 150, seed=5, mapping=mapping, files=1,
                   datasets=("infobase_attributes",))
    snapshot = snapshot_of(tmp_path, "infobase_attributes")
    outputs = split_snapshot(snapshot, str(tmp_path / "out"), "r1", mapping)

    assert [o.table for o in outputs] == mapping.table_names() and len(outputs) == 27
    raw = read_raw(snapshot)
    raw_keys = Counter(raw.column(SOURCE_KEY).to_pylist())
    partitioning = ds.partitioning(pa.schema([("id_bucket", pa.int32())]), flavor="hive")
    for output in outputs:
        assert output.columns == mapping.published_columns(output.table), output.table
        assert {p.name for p in Path(output.location).iterdir() if p.is_dir()} == BUCKET_FOLDERS, output.table
        # keys and buckets of every table (reading all columns of 27 x 256 files costs too long)
        data = ds.dataset(output.location, format="parquet", partitioning=partitioning).to_table(
            columns=[KEY, "id_bucket"])
        keys, buckets = data.column(KEY).to_pylist(), data.column("id_bucket").to_pylist()
        assert Counter(keys) == raw_keys, output.table
        assert all(b == id_bucket(k) for k, b in zip(keys, buckets)), output.table
    by_table = {o.table: o for o in outputs}
    # every value of the widest table, the one without a key row and the narrowest
    for table in ("MIACS_02_A", "IBE_04_B", "IBE_08"):
        data = read_output(by_table[table].location)
        assert data.column_names == [*by_table[table].columns, "id_bucket"]
        assert rows(data, by_table[table].columns) == raw_rows(raw, by_table[table].columns), table
    assert len(by_table["IBE_04_B"].columns) == 16  # 15 attributes, no key row in the mapping: key added
    assert len(by_table["MIACS_02_A"].columns) == 100  # + id_bucket: exactly the Clean Rooms allow-list limit
