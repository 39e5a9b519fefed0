from pathlib import Path

import pytest

from flywheel_lib.config import load_settings
from flywheel_lib.errors import SnapshotError
from flywheel_lib.snapshots import find_snapshot, latest_month, parse_month, resolve_snapshots


def deliver(root: Path, dataset: str, snapshot_dt: str, files=("part-00000.parquet",)) -> Path:
    """A raw snapshot folder as upstream delivers it (discovery only looks at names)."""
    folder = root / "opus" / dataset / "raw_input" / f"snapshot_dt={snapshot_dt}"
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        (folder / name).write_bytes(b"PAR1 raw PAR1")
    return folder


@pytest.fixture
def settings(tmp_path):
    return load_settings("local", environ={"FLYWHEEL_DATA_ROOT": str(tmp_path)})


@pytest.fixture
def raw_root(settings) -> Path:
    return Path(settings.raw_root("addressable_ids"))


# --- months --------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "month"), [("2026-10", "2026-10"), (" 2026-01 ", "2026-01"), ("1999-12", "1999-12")])
def test_parse_month_accepts_yyyy_mm(text, month):
    assert parse_month(text) == month


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "2026-1", "202610", "2026-10-01", "Oct 2026", "", "2026/10"])
def test_parse_month_refuses_anything_else(text):
    with pytest.raises(SnapshotError, match="is not YYYY-MM"):
        parse_month(text)


# --- discovery ---------------------------------------------------------------------------

def test_the_latest_snapshot_inside_the_month_is_chosen(settings, raw_root):
    root = Path(settings.data_root)
    for dt in ("2026-09-30", "2026-10-01", "2026-10-15", "2026-11-01"):
        deliver(root, "addressable_ids", dt)
    snapshot = find_snapshot(raw_root, "addressable_ids", "2026-10")
    assert snapshot.snapshot_dt == "2026-10-15"
    assert snapshot.location == str(raw_root / "snapshot_dt=2026-10-15")
    assert snapshot.dataset == "addressable_ids"


def test_the_snapshot_lists_its_parquet_files_with_sizes(settings, raw_root):
    folder = deliver(Path(settings.data_root), "addressable_ids", "2026-10-01",
                     files=("part-00001.parquet", "part-00000.parquet", "_SUCCESS"))
    snapshot = find_snapshot(raw_root, "addressable_ids", "2026-10")
    assert [f.path for f in snapshot.files] == [str(folder / "part-00000.parquet"), str(folder / "part-00001.parquet")]
    assert snapshot.size == 2 * len(b"PAR1 raw PAR1")


def test_folders_without_parquet_files_are_ignored(settings, raw_root):
    root = Path(settings.data_root)
    deliver(root, "addressable_ids", "2026-10-01")
    deliver(root, "addressable_ids", "2026-10-20", files=())  # still empty
    deliver(root, "addressable_ids", "2026-10-25", files=("_SUCCESS",))  # no Parquet
    # a delivery being written by the synthetic generator (hidden staging folder)
    staging = raw_root / ".snapshot_dt=2026-10-28.tmp"
    staging.mkdir()
    (staging / "part-00000.parquet").write_bytes(b"PAR1")
    assert find_snapshot(raw_root, "addressable_ids", "2026-10").snapshot_dt == "2026-10-01"


def test_a_missing_snapshot_names_the_dataset_and_what_is_available(settings):
    root = Path(settings.data_root)
    for dt in ("2026-07-01", "2026-08-01", "2026-09-01", "2026-11-01"):
        deliver(root, "infobase_attributes", dt)
    deliver(root, "infobase_attributes", "2026-10-05", files=())  # empty: does not count
    with pytest.raises(SnapshotError) as err:
        find_snapshot(settings.raw_root("infobase_attributes"), "infobase_attributes", "2026-10")
    text = str(err.value)
    assert "infobase_attributes" in text and "2026-10" in text
    assert "2026-08-01, 2026-09-01, 2026-11-01" in text
    assert err.value.month == "2026-10"


def test_a_missing_raw_root_says_nothing_is_available(raw_root):
    with pytest.raises(SnapshotError, match="no addressable_ids snapshot for 2026-10.*none"):
        find_snapshot(raw_root, "addressable_ids", "2026-10")


def test_a_folder_that_is_not_a_real_date_is_an_error(settings, raw_root):
    deliver(Path(settings.data_root), "addressable_ids", "2026-10-32")
    with pytest.raises(SnapshotError, match="snapshot_dt=2026-10-32 is not a real date"):
        find_snapshot(raw_root, "addressable_ids", "2026-10")


# --- the cross-check ---------------------------------------------------------------------

def test_both_datasets_on_the_same_date_resolve(settings):
    root = Path(settings.data_root)
    for ds in ("addressable_ids", "infobase_attributes"):
        deliver(root, ds, "2026-10-01")
    pair = resolve_snapshots(settings, "2026-10")
    assert (pair.addressable.snapshot_dt, pair.infobase.snapshot_dt) == ("2026-10-01", "2026-10-01")
    assert pair.of("infobase_attributes") is pair.infobase
    assert not pair.mismatch_allowed


def test_different_dates_stop_the_run(settings):
    root = Path(settings.data_root)
    deliver(root, "addressable_ids", "2026-10-15")
    deliver(root, "infobase_attributes", "2026-10-01")
    with pytest.raises(SnapshotError) as err:
        resolve_snapshots(settings, "2026-10")
    assert "addressable_ids 2026-10-15" in str(err.value)
    assert "infobase_attributes 2026-10-01" in str(err.value)
    assert "--allow-snapshot-mismatch" in str(err.value)


def test_different_dates_pass_when_explicitly_allowed(settings):
    root = Path(settings.data_root)
    deliver(root, "addressable_ids", "2026-10-15")
    deliver(root, "infobase_attributes", "2026-10-01")
    pair = resolve_snapshots(settings, "2026-10", allow_mismatch=True)
    assert pair.mismatch_allowed
    assert (pair.addressable.snapshot_dt, pair.infobase.snapshot_dt) == ("2026-10-15", "2026-10-01")
    recorded = pair.as_record()
    assert recorded["mismatch_allowed"] is True
    assert recorded["datasets"]["infobase_attributes"]["snapshot_dt"] == "2026-10-01"


def test_one_dataset_missing_stops_the_run_even_when_mismatch_is_allowed(settings):
    deliver(Path(settings.data_root), "addressable_ids", "2026-10-01")
    with pytest.raises(SnapshotError, match="no infobase_attributes snapshot for 2026-10"):
        resolve_snapshots(settings, "2026-10", allow_mismatch=True)


# --- latest month ------------------------------------------------------------------------

def test_latest_month_is_the_newest_month_both_datasets_have(settings):
    root = Path(settings.data_root)
    for dt in ("2026-09-01", "2026-10-01", "2026-11-01"):
        deliver(root, "addressable_ids", dt)
    for dt in ("2026-09-03", "2026-10-02"):
        deliver(root, "infobase_attributes", dt)
    deliver(root, "infobase_attributes", "2026-12-01", files=())
    assert latest_month(settings) == "2026-10"


def test_latest_month_without_a_common_month_is_an_error(settings):
    root = Path(settings.data_root)
    deliver(root, "addressable_ids", "2026-10-01")
    deliver(root, "infobase_attributes", "2026-11-01")
    with pytest.raises(SnapshotError, match="no month has snapshots of both datasets"):
        latest_month(settings)
