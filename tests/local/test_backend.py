"""The whole local refresh through LocalBackend, month after month, as an analyst sees the catalog.

The months build on each other (A published, B failing, B published, C with
an allowed snapshot mismatch pruning A), so each phase is a module fixture that
records what could be seen at that moment; the tests read those records.
Retention is 2 months here (3 by default) to need one refresh less.
"""

from dataclasses import replace
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from flywheel_lib import lake
from flywheel_lib.backend import get_backend
from flywheel_lib.bucketing import id_bucket
from flywheel_lib.checks import require_passed
from flywheel_lib.config import load_settings
from flywheel_lib.errors import CatalogError, CheckFailed
from flywheel_lib.local.backend import LocalBackend
from flywheel_lib.mapping import KEY, SOURCE_KEY, load_mapping
from flywheel_lib.row_ids import row_id
from flywheel_lib.snapshots import resolve_snapshots
from flywheel_lib.synthetic import write_snapshot

MAPPING_CSV = Path(__file__).parent.parent / "fixtures" / "engine_mapping.csv"
# catalog table -> (dataset, folder under the dataset's output root)
TABLES = {
    "part_addressable_ids": ("addressable_ids", "addressable_ids"),
    "part_ibe_01": ("infobase_attributes", "IBE_01"),
    "part_miacs_01": ("infobase_attributes", "MIACS_01"),
    "part_new_borrowers": ("infobase_attributes", "NEW_BORROWERS"),
}
# month -> (snapshot date, customers, seed): different sizes and keys, so months are told apart
MONTHS = {
    "2026-08": ("2026-08-03", 200, 1),
    "2026-09": ("2026-09-02", 150, 2),
    "2026-10": ("2026-10-01", 90, 3),
}
RETENTION_MONTHS = 2


class Lake:
    """A local data root with the 3-table mapping, its backend, and what an analyst can query."""

    def __init__(self, root: Path, **settings):
        self.settings = replace(load_settings("local", environ={
            "FLYWHEEL_DATA_ROOT": str(root), "FLYWHEEL_RUNS_DIR": str(root / "runs"),
            "FLYWHEEL_MAPPING": str(MAPPING_CSV)}), **settings)
        self.backend = get_backend(self.settings)
        self.mapping = load_mapping(MAPPING_CSV)

    def deliver(self, month: str, **overrides):
        snapshot_dt, rows, seed = MONTHS[month]
        write_snapshot(self.settings.data_root, overrides.get("snapshot_dt", snapshot_dt), rows,
                       seed=seed, mapping=self.mapping, files=1,
                       datasets=overrides.get("datasets", ("addressable_ids", "infobase_attributes")))

    def split_and_register(self, pair, run_id: str) -> None:
        for snapshot in (pair.addressable, pair.infobase):
            self.backend.split(snapshot, run_id)
            self.backend.register(snapshot, run_id)

    def refresh(self, month: str, run_id: str, **resolve):
        """Deliver, split, register, repair, validate and publish one month."""
        self.deliver(month)
        pair = resolve_snapshots(self.settings, month, **resolve)
        self.split_and_register(pair, run_id)
        self.backend.repair(run_id)
        require_passed(self.backend.validate(pair, run_id))
        self.backend.publish(run_id)
        return pair

    # -- what an analyst sees, through a separate read-only connection --------------
    def sql(self, query: str) -> list[tuple]:
        con = duckdb.connect(str(self.settings.catalog_path), read_only=True)
        try:
            return con.execute(query).fetchall()
        finally:
            con.close()

    def views(self, schema: str) -> set[str]:
        return {r[0] for r in self.sql(
            f"SELECT view_name FROM duckdb_views() WHERE schema_name = '{schema}' AND NOT internal")}

    def observe(self) -> dict:
        """Per published table: its snapshot date, and the keys its main view returns."""
        return {
            "dates": {e.name: e.snapshot_dt for e in self.backend.published()},
            "keys": {t: sorted(r[0] for r in self.sql(f"SELECT {KEY} FROM main.{t}")) for t in TABLES},
        }

    def source_keys(self, pair) -> list[str]:
        return sorted(pq.read_table(pair.addressable.files[0].path).column(SOURCE_KEY).to_pylist())

    def version(self, table: str, snapshot_dt: str, run_id: str) -> Path:
        dataset, folder = TABLES[table]
        return lake.version_dir(self.settings.output_root(dataset), folder, snapshot_dt, run_id)


def run_id(month: str, attempt: int = 1) -> str:
    return f"{month}-r{attempt}"


# --- month A: the first refresh --------------------------------------------------------------

@pytest.fixture(scope="module")
def story(tmp_path_factory):
    return Lake(tmp_path_factory.mktemp("lake"), retention_months=RETENTION_MONTHS)


@pytest.fixture(scope="module")
def month_a(story):
    month, run = "2026-08", run_id("2026-08")
    story.deliver(month)
    pair = resolve_snapshots(story.settings, month)
    seen = {"pair": pair}
    story.split_and_register(pair, run)
    seen["before_publish"] = {"main": story.views("main"), "staging": story.views("staging")}
    seen["repair"] = story.backend.repair(run)
    seen["checks"] = story.backend.validate(pair, run)
    require_passed(seen["checks"])
    story.backend.publish(run)
    seen["after_publish"] = {"main": story.views("main"), "staging": story.views("staging")}
    seen["bucket_7"] = {
        t: (story.sql(f"SELECT count(*) FROM {t} WHERE id_bucket = 7")[0][0],
            sum(pq.ParquetFile(f).metadata.num_rows
                for f in (story.version(t, pair.addressable.snapshot_dt, run) / "id_bucket=7").glob("*.parquet")))
        for t in TABLES}
    seen["per_bucket"] = {
        t: (dict(story.sql(f"SELECT id_bucket, count(*) FROM {t} GROUP BY 1")),
            {b: n for b, n in lake.bucket_row_counts(story.version(t, pair.addressable.snapshot_dt, run)).items() if n})
        for t in TABLES}
    seen["published"] = story.observe()
    story.backend.build_er_table(pair, run)
    seen["er"] = story.sql("SELECT row_id, customer_user_id FROM part_addressable_ids_er ORDER BY row_id")
    seen["er_tables"] = {e.name for e in story.backend.published() if e.name.endswith("_er")}
    return seen


def test_the_local_backend_is_chosen_for_the_local_environment(story):
    assert isinstance(story.backend, LocalBackend)


def test_staged_tables_are_not_main_views_before_publish(month_a):
    assert month_a["before_publish"] == {"main": set(), "staging": set(TABLES)}
    assert month_a["after_publish"] == {"main": set(TABLES), "staging": set()}


def test_the_first_month_passes_every_check(month_a):
    checks = month_a["checks"]
    assert [c for c in checks if not c.ok] == []
    assert {(c.table, c.check) for c in checks} == {
        (t, name) for t in TABLES for name in ("registered", "bucket folders", "catalog partitions",
                                               "table type and formats", "contract", "row count vs source",
                                               "key nulls", "key duplicates")}


def test_repair_records_every_bucket_folder_as_a_partition(month_a):
    assert sorted((r["table"], r["bucket_folders"], r["partitions_added"]) for r in month_a["repair"]) == [
        (t, 256, 256) for t in sorted(TABLES)]


def test_published_views_are_queryable_from_a_read_only_connection(month_a):
    for table, (in_view, in_folder) in month_a["bucket_7"].items():
        assert in_view == in_folder, table
    assert any(in_folder for _, in_folder in month_a["bucket_7"].values())  # bucket 7 is not empty
    for table, (in_view, in_folders) in month_a["per_bucket"].items():
        assert in_view == in_folders, table
    source = sorted(pq.read_table(month_a["pair"].addressable.files[0].path).column(SOURCE_KEY).to_pylist())
    assert month_a["published"]["keys"] == {t: source for t in TABLES}
    assert month_a["published"]["dates"] == {t: "2026-08-03" for t in TABLES}


def er_ids(keys: list[str]) -> list[tuple[int, str]]:
    """The row_id rule worked out in Python: bucket in the high bits, 1, 2, ... in key order within it."""
    positions: dict[int, int] = {}
    ids = []
    for key in sorted(keys, key=lambda k: k.encode()):
        bucket = id_bucket(key)
        positions[bucket] = positions.get(bucket, 0) + 1
        ids.append((row_id(bucket, positions[bucket]), key))
    return sorted(ids)


def test_the_er_table_numbers_the_keys_in_key_order_within_each_bucket(month_a, story):
    keys = story.source_keys(month_a["pair"])
    assert month_a["er"] == er_ids(keys)
    assert month_a["er_tables"] == {"part_addressable_ids_er"}  # no copies unless asked


# --- month B, first attempt: validation fails --------------------------------------------------

@pytest.fixture(scope="module")
def failed_b(story, month_a):
    month, run = "2026-09", run_id("2026-09")
    story.deliver(month)
    pair = resolve_snapshots(story.settings, month)
    seen = {"pair": pair}
    story.split_and_register(pair, run)
    seen["while_staged"] = story.observe()
    story.backend.repair(run)
    # break two tables after the repair: a lost (empty) bucket folder, and a lost row
    ibe_01 = story.version("part_ibe_01", pair.addressable.snapshot_dt, run)
    seen["lost_bucket"] = min(b for b, n in lake.bucket_row_counts(ibe_01).items() if n == 0)
    for path in (ibe_01 / f"id_bucket={seen['lost_bucket']}").iterdir():
        path.unlink()
    (ibe_01 / f"id_bucket={seen['lost_bucket']}").rmdir()
    borrowers = story.version("part_new_borrowers", pair.addressable.snapshot_dt, run)
    bucket_file = next(f for f in sorted(borrowers.glob("id_bucket=*/*.parquet")) if pq.ParquetFile(f).metadata.num_rows)
    data = pq.read_table(bucket_file)
    pq.write_table(data.slice(1), bucket_file)
    seen["checks"] = story.backend.validate(pair, run)
    try:
        require_passed(seen["checks"], stage="glue_ready")
    except CheckFailed as err:
        seen["error"] = err
    seen["after"] = story.observe()
    return seen


def test_validation_names_exactly_the_broken_tables_and_checks(failed_b):
    failed = {(c.table, c.check): c.detail for c in failed_b["checks"] if not c.ok}
    assert set(failed) == {("part_ibe_01", "bucket folders"), ("part_new_borrowers", "row count vs source")}
    assert failed[("part_ibe_01", "bucket folders")] == f"255 of 256; missing {failed_b['lost_bucket']}"
    assert failed[("part_new_borrowers", "row count vs source")] == "149 rows, source snapshot 150"


def test_require_passed_raises_naming_each_failure(failed_b):
    err = failed_b.get("error")
    assert isinstance(err, CheckFailed)
    assert err.failures == [
        f"part_ibe_01: bucket folders (255 of 256; missing {failed_b['lost_bucket']})",
        "part_new_borrowers: row count vs source (149 rows, source snapshot 150)",
    ]
    assert "2 check(s) failed" in str(err) and "glue_ready" in str(err)


def test_last_month_stays_intact_while_the_next_is_staged_and_fails(failed_b, month_a):
    a_dates = {**month_a["published"]["dates"], "part_addressable_ids_er": "2026-08-03"}
    for seen in (failed_b["while_staged"], failed_b["after"]):
        assert seen["keys"] == month_a["published"]["keys"]
        assert seen["dates"] == a_dates


# --- month B, second attempt: published --------------------------------------------------------

@pytest.fixture(scope="module")
def month_b(story, failed_b):
    run = run_id("2026-09", 2)
    pair = failed_b["pair"]
    story.split_and_register(pair, run)
    story.backend.repair(run)
    require_passed(story.backend.validate(pair, run))
    story.backend.publish(run)
    a_date, a_run = "2026-08-03", run_id("2026-08")
    seen = {"pair": pair, "published": story.observe(),
            "a_versions_kept": {t: story.version(t, a_date, a_run).is_dir() for t in TABLES},
            "rerun_checks": story.backend.validate(pair, run)}  # glue_ready run again for this run
    story.backend.build_er_table(pair, run, copies=True)
    seen["er"] = story.sql("SELECT row_id, customer_user_id FROM part_addressable_ids_er ORDER BY row_id")
    seen["er_dates"] = {e.name: e.snapshot_dt for e in story.backend.published() if e.name.endswith("_er")}
    seen["er_columns"] = {t: [r[0] for r in story.sql(f"DESCRIBE main.{t}_er")] for t in TABLES}
    seen["table_columns"] = {t: [r[0] for r in story.sql(f"DESCRIBE main.{t}")] for t in TABLES}
    seen["er_differences"] = {
        t: story.sql(f"SELECT count(*) FROM (SELECT * EXCLUDE (row_id) FROM {t}_er "
                     f"EXCEPT ALL SELECT * EXCLUDE (id_bucket) FROM {t})")[0][0]
        for t in TABLES if t != "part_addressable_ids"}
    seen["er_counts"] = {t: story.sql(f"SELECT count(*), count(DISTINCT row_id) FROM {t}_er")[0] for t in TABLES}
    return seen


def test_a_successful_month_switches_every_view(month_b, story):
    keys = story.source_keys(month_b["pair"])
    assert month_b["published"]["keys"] == {t: keys for t in TABLES}
    assert month_b["published"]["dates"] == {**{t: "2026-09-02" for t in TABLES},
                                             "part_addressable_ids_er": "2026-08-03"}  # until er_table runs


def test_last_month_folders_are_kept_after_the_switch(month_b):
    assert month_b["a_versions_kept"] == {t: True for t in TABLES}


def test_glue_ready_can_run_again_for_a_run_that_already_published(month_b):
    assert [(c.table, c.check) for c in month_b["rerun_checks"] if not c.ok] == []


def test_the_er_table_is_rebuilt_for_the_new_snapshot(month_b, story):
    keys = story.source_keys(month_b["pair"])
    assert month_b["er"] == er_ids(keys)
    assert month_b["er_dates"]["part_addressable_ids_er"] == "2026-09-02"


def test_er_copies_are_made_for_every_table(month_b):
    assert month_b["er_dates"] == {f"{t}_er": "2026-09-02" for t in TABLES}
    assert month_b["er_columns"]["part_addressable_ids"] == ["row_id", KEY]
    for table in TABLES:
        if table != "part_addressable_ids":
            data_columns = [c for c in month_b["table_columns"][table] if c != "id_bucket"]
            assert month_b["er_columns"][table] == ["row_id", *data_columns], table
            assert month_b["er_differences"][table] == 0, table  # the same rows as the table
        assert month_b["er_counts"][table] == (150, 150), table  # row_id unique


# --- month C: snapshots on different dates, explicitly allowed ------------------------------------

@pytest.fixture(scope="module")
def month_c(story, month_b):
    month, run = "2026-10", run_id("2026-10")
    story.deliver(month, datasets=("infobase_attributes",), snapshot_dt="2026-10-02")
    a_date, a_run = "2026-08-03", run_id("2026-08")
    pair = story.refresh(month, run, allow_mismatch=True)
    seen = {"pair": pair, "published": story.observe(),
            "a_kept": {t: story.version(t, a_date, a_run).is_dir() for t in TABLES},
            "versions": {t: [(dt, r) for dt, r, _ in lake.versions(story.settings.output_root(ds), folder)]
                         for t, (ds, folder) in TABLES.items()}}
    try:
        story.backend.build_er_table(pair, run, copies=True)
    except CatalogError as err:
        seen["er_copies_error"] = err
    seen["er_dates"] = {e.name: e.snapshot_dt for e in story.backend.published() if e.name.endswith("_er")}
    # an er_table stage that dies after staging its table, before publishing it
    with pytest.MonkeyPatch.context() as patch:
        def interrupted(names, run_id):
            raise CatalogError("interrupted")
        patch.setattr(story.backend.catalog, "publish", interrupted)
        with pytest.raises(CatalogError, match="interrupted"):
            story.backend.build_er_table(pair, run)
    seen["staged_er"] = {e.name for e in story.backend.catalog.entries(run_id=run, state="staged")}
    seen["repair_with_er_staged"] = story.backend.repair(run)
    seen["er_partitions"] = story.sql(
        "SELECT DISTINCT name FROM flywheel_partitions WHERE name LIKE '%\\_er' ESCAPE '\\'")
    return seen


def test_retention_prunes_months_beyond_retention_months(month_c):
    assert month_c["a_kept"] == {t: False for t in TABLES}
    infobase_dt = "2026-10-02"
    for table, (dataset, _) in TABLES.items():
        c_date = "2026-10-01" if dataset == "addressable_ids" else infobase_dt
        assert month_c["versions"][table] == [
            ("2026-09-02", "2026-09-r1"), ("2026-09-02", "2026-09-r2"), (c_date, "2026-10-r1")], table


def test_an_allowed_mismatch_publishes_each_dataset_with_its_own_date(month_c, story):
    keys = story.source_keys(month_c["pair"])
    assert month_c["published"]["keys"] == {t: keys for t in TABLES}
    assert {t: month_c["published"]["dates"][t] for t in TABLES} == {
        "part_addressable_ids": "2026-10-01", "part_ibe_01": "2026-10-02",
        "part_miacs_01": "2026-10-02", "part_new_borrowers": "2026-10-02"}


def test_er_copies_with_an_allowed_snapshot_mismatch(month_c):
    assert "er_copies_error" not in month_c, str(month_c.get("er_copies_error"))
    assert month_c["er_dates"] == {"part_addressable_ids_er": "2026-10-01", "part_ibe_01_er": "2026-10-02",
                                   "part_miacs_01_er": "2026-10-02", "part_new_borrowers_er": "2026-10-02"}


def test_repair_never_records_partitions_for_er_tables(month_c):
    # The interrupted rebuild re-registered ER tables this run had already published: they stay
    # published (registering a published version again never un-publishes it).
    assert "part_addressable_ids_er" not in month_c["staged_er"]
    repaired = [r["table"] for r in month_c["repair_with_er_staged"]]
    assert "part_addressable_ids" in repaired
    assert not [t for t in repaired if t.endswith("_er")]
    assert month_c["er_partitions"] == []


# --- on their own ----------------------------------------------------------------------------

def test_registration_without_split_output_names_the_missing_tables(tmp_path):
    lake_ = Lake(tmp_path)
    lake_.deliver("2026-10")
    pair = resolve_snapshots(lake_.settings, "2026-10")
    lake_.backend.split(pair.infobase, "r1", tables=["IBE_01"])
    with pytest.raises(CatalogError) as err:
        lake_.backend.register(pair.infobase, "r1")
    assert "2 table(s): NEW_BORROWERS, MIACS_01" in str(err.value)
    with pytest.raises(CatalogError, match="1 table\\(s\\): addressable_ids"):
        lake_.backend.register(pair.addressable, "r1")
    assert lake_.backend.catalog.entries(run_id="r1") == []  # nothing staged, not even IBE_01
