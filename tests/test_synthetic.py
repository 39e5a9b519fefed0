import re

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
import xxhash

from flywheel_lib import drift, synthetic
from flywheel_lib.errors import SnapshotError
from flywheel_lib.mapping import SOURCE_KEY, load_mapping
from flywheel_lib.synthetic import snapshot_dir, write_snapshot

DT = "2026-10-01"
ADDRESSABLE_COLUMNS = [SOURCE_KEY, "Hashed_Email", "Postal_Code", "Country_Code", "Record_Source", "First_Seen_Dt"]


@pytest.fixture(scope="module")
def mapping():
    return load_mapping()


@pytest.fixture(scope="module")
def written(tmp_path_factory, mapping):
    """The full mapping, 1,200 rows over 3 files in batches of 500."""
    root = tmp_path_factory.mktemp("lake")
    return root, write_snapshot(root, DT, 1200, seed=7, mapping=mapping, files=3, batch_rows=500)


def read(paths) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in paths)


def test_layout_matches_the_upstream_delivery(written):
    root, snapshot = written
    for dataset in ("addressable_ids", "infobase_attributes"):
        folder = root / "opus" / dataset / "raw_input" / f"snapshot_dt={DT}"
        assert folder == snapshot_dir(root, dataset, DT)
        assert sorted(p.name for p in folder.iterdir()) == [f"part-0000{i}.parquet" for i in range(3)]
        assert snapshot.files[dataset] == [str(folder / f"part-0000{i}.parquet") for i in range(3)]
        # nothing left beside it (no staging folder)
        assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def test_column_names_keep_the_upstream_case(written, mapping):
    _, snapshot = written
    assert pq.read_schema(snapshot.files["addressable_ids"][0]).names == ADDRESSABLE_COLUMNS
    names = pq.read_schema(snapshot.files["infobase_attributes"][0]).names
    assert names == [SOURCE_KEY, *mapping.source_columns()]
    assert "miACS_AreaLatitude" in names and len(names) == 1743


def test_rows_are_spread_over_the_files(written):
    _, snapshot = written
    assert snapshot.rows == 1200
    for paths in snapshot.files.values():
        assert [pq.ParquetFile(p).metadata.num_rows for p in paths] == [400, 400, 400]


def test_both_datasets_have_the_same_unique_keys_once_each(written):
    _, snapshot = written
    addressable = read(snapshot.files["addressable_ids"])[SOURCE_KEY].to_pylist()
    infobase = read(snapshot.files["infobase_attributes"])[SOURCE_KEY].to_pylist()
    assert None not in addressable
    assert len(set(addressable)) == 1200
    assert sorted(addressable) == sorted(infobase)


def test_keys_look_like_upstream_keys_with_a_few_awkward_ones(written):
    _, snapshot = written
    keys = read(snapshot.files["addressable_ids"])[SOURCE_KEY].to_pylist()
    digits = [k for k in keys if re.fullmatch(r"\d{12}", k)]
    alnum = [k for k in keys if re.fullmatch(r"[0-9A-Za-z]{5}", k)]
    assert 0.6 < len(digits) / len(keys) < 0.8 and 0.2 < len(alnum) / len(keys) < 0.4
    assert any(not k.isascii() for k in keys)
    assert any(len(k) >= 60 for k in keys)
    assert len(digits) + len(alnum) + sum(not k.isascii() or len(k) >= 60 for k in keys) == len(keys)


def test_keys_fill_every_bucket(tmp_path):
    written = write_snapshot(tmp_path, DT, 20_000, datasets=("addressable_ids",), batch_rows=20_000)
    keys = read(written.files["addressable_ids"])[SOURCE_KEY].to_pylist()
    buckets = {xxhash.xxh64_intdigest(k.encode(), seed=42) % 256 for k in keys}
    assert len(buckets) == 256


def test_nulls_are_present_but_not_everywhere(written):
    _, snapshot = written
    table = read(snapshot.files["infobase_attributes"])
    null_share = [column.null_count / len(table) for column in table.columns[1:]]
    assert all(share < 0.4 for share in null_share)  # no column is mostly empty
    assert sum(share == 0 for share in null_share) > 200  # some are fully populated
    assert sum(share > 0.1 for share in null_share) > 500
    assert 0.05 < sum(null_share) / len(null_share) < 0.2


def test_types_and_values_are_varied_and_plausible(written):
    _, snapshot = written
    table = read(snapshot.files["infobase_attributes"])
    types = {str(f.type) for f in table.schema}
    assert types == {"string", "int32", "int64", "double"}  # codes read back as plain strings
    latitude = table["miACS_AreaLatitude"]
    assert pa.types.is_float64(latitude.type)
    assert 24 < pc.min(latitude).as_py() < pc.max(latitude).as_py() < 50
    assert pc.max(table["miACS_AreaLongitude"]).as_py() < -60
    for column in table.columns[1:]:
        assert pc.count_distinct(column).as_py() > 1  # nothing constant, no all-zero column
    addressable = read(snapshot.files["addressable_ids"])
    assert pa.types.is_date32(addressable["First_Seen_Dt"].type)
    assert pc.max(addressable["First_Seen_Dt"]).as_py().isoformat() <= DT
    assert all(re.fullmatch(r"\d{5}", z) for z in addressable["Postal_Code"].drop_null().to_pylist())


def test_same_seed_gives_identical_files(tmp_path, mapping):
    first = write_snapshot(tmp_path / "a", DT, 300, seed=3, mapping=mapping)
    second = write_snapshot(tmp_path / "b", DT, 300, seed=3, mapping=mapping)
    for dataset, paths in first.files.items():
        for one, two in zip(paths, second.files[dataset]):
            assert open(one, "rb").read() == open(two, "rb").read()


def test_another_seed_gives_other_keys_and_values(tmp_path, mapping):
    one = read(write_snapshot(tmp_path / "a", DT, 300, seed=3, mapping=mapping).files["infobase_attributes"])
    two = read(write_snapshot(tmp_path / "b", DT, 300, seed=4, mapping=mapping).files["infobase_attributes"])
    assert set(one[SOURCE_KEY].to_pylist()).isdisjoint(two[SOURCE_KEY].to_pylist())
    same = sum(a.equals(b) for a, b in zip(one.columns[1:], two.columns[1:]))
    assert same == 0
    assert one.schema == two.schema  # types come from the column names, not the seed


def test_batches_and_files_do_not_change_the_data(tmp_path, mapping):
    small = write_snapshot(tmp_path / "a", DT, 300, mapping=mapping, files=2, batch_rows=70)
    whole = write_snapshot(tmp_path / "b", DT, 300, mapping=mapping, files=1, batch_rows=10_000)
    for dataset in whole.files:
        assert read(small.files[dataset]).equals(read(whole.files[dataset]))


def test_an_existing_snapshot_is_not_overwritten(tmp_path, mapping):
    write_snapshot(tmp_path, DT, 50, seed=1, mapping=mapping, datasets=("addressable_ids",))
    with pytest.raises(SnapshotError, match=f"snapshot {DT} already exists"):
        write_snapshot(tmp_path, DT, 80, seed=1, mapping=mapping)
    # refused before anything was written: no infobase folder appeared
    assert not snapshot_dir(tmp_path, "infobase_attributes", DT).exists()
    replaced = write_snapshot(tmp_path, DT, 80, seed=1, mapping=mapping, overwrite=True)
    assert len(read(replaced.files["addressable_ids"])) == 80


def test_a_failed_write_leaves_the_previous_snapshot_and_no_staging(tmp_path, mapping, monkeypatch):
    write_snapshot(tmp_path, DT, 50, mapping=mapping, datasets=("addressable_ids",))
    folder = snapshot_dir(tmp_path, "addressable_ids", DT)
    before = sorted((p.name, p.read_bytes()) for p in folder.iterdir())

    def broken(*args):
        raise RuntimeError("disk full")

    monkeypatch.setattr(synthetic, "_batch", broken)
    with pytest.raises(RuntimeError):
        write_snapshot(tmp_path, DT, 70, mapping=mapping, datasets=("addressable_ids",), overwrite=True)
    assert sorted((p.name, p.read_bytes()) for p in folder.iterdir()) == before
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def test_more_files_than_rows_writes_no_empty_files(tmp_path, mapping):
    written = write_snapshot(tmp_path, DT, 2, mapping=mapping, files=5, datasets=("addressable_ids",))
    assert [p.rsplit("/", 1)[1] for p in written.files["addressable_ids"]] == ["part-00000.parquet", "part-00001.parquet"]


@pytest.mark.parametrize("arguments", [
    {"snapshot_dt": "2026-13-01"}, {"snapshot_dt": "20261001"}, {"rows": 0}, {"files": 0},
    {"seed": -1}, {"datasets": ("addresses",)},
])
def test_bad_arguments_are_refused(tmp_path, arguments):
    call = {"snapshot_dt": DT, "rows": 10, **arguments}
    with pytest.raises(SnapshotError):
        write_snapshot(tmp_path, call.pop("snapshot_dt"), call.pop("rows"), **call)
    assert not (tmp_path / "opus").exists()


def test_command_line(tmp_path, capsys):
    synthetic.main(["--data-root", str(tmp_path), "--snapshot-dt", DT, "--rows", "30", "--seed", "5", "--files", "1"])
    out = capsys.readouterr().out
    assert "addressable_ids: 30 rows in 1 files" in out and "infobase_attributes" in out
    assert len(pq.read_table(snapshot_dir(tmp_path, "infobase_attributes", DT))) == 30


def test_demo_months_differ_as_real_deliveries_do(tmp_path, mapping):
    """--demo-rows writes with monthly=True: customers come and go, null rates drift, a column comes."""
    months = {dt: write_snapshot(tmp_path / dt, dt, 400, seed=5, mapping=mapping, monthly=True)
              for dt in ("2026-09-30", "2026-10-31")}
    sep, oct_ = (read(months[dt].files["addressable_ids"]) for dt in months)
    assert (sep.num_rows, oct_.num_rows) == (drift.customers(400, "2026-09-30")[1],
                                              drift.customers(400, "2026-10-31")[1]) == (400, 404)
    stayed = set(sep[SOURCE_KEY].to_pylist()) & set(oct_[SOURCE_KEY].to_pylist())
    assert 350 < len(stayed) < 400  # 3% of the base left, others joined
    by_key = lambda t: {k: v for k, v in zip(t[SOURCE_KEY].to_pylist(), t["Postal_Code"].to_pylist())}  # noqa: E731
    assert all(by_key(sep)[k] == by_key(oct_)[k] for k in stayed)  # a customer who stays keeps their values
    assert oct_.column_names == sep.column_names + ["Mobile_Ad_Id_Flag"]
    info = [read(months[dt].files["infobase_attributes"]) for dt in months]
    moved = [name for name in info[0].column_names[1:]
             if abs(info[0][name].null_count / 400 - info[1][name].null_count / 404) > 0.02]
    assert 2 <= len(moved) <= 40, moved
    assert info[0].column_names == info[1].column_names  # the mapping still matches every month
    again = write_snapshot(tmp_path / "again", "2026-10-31", 400, seed=5, mapping=mapping, monthly=True)
    assert read(again.files["addressable_ids"]).equals(oct_)  # deterministic per month


def test_optional_columns_come_and_go_by_month():
    found = {m: drift.optional_columns(f"{m}-28") for m in ("2026-09", "2026-10", "2026-12", "2027-01")}
    assert found == {"2026-09": [], "2026-10": ["Mobile_Ad_Id_Flag"],
                     "2026-12": ["Mobile_Ad_Id_Flag", "Household_Size"], "2027-01": ["Household_Size"]}
