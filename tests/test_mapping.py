import re

import pytest

from flywheel_lib.errors import MappingError
from flywheel_lib.mapping import KEY, Mapping, default_mapping_path, load_mapping

HEADER = "OMC_FLYWHEEL_TABLE,OMC_FLYWHEEL_COLUMN,FUNCTION_DESCRIPTION,OPUS_COLUMN,ELEMENT_NUMBER"

# DOMAIN.md's counts; its table omits MIACS_02 (98 rows), which the totals need.
DOMAIN_ROWS = {
    "IBE_01": 97, "IBE_01_A": 65, "IBE_02": 93, "IBE_02_A": 85, "IBE_03": 96, "IBE_03_A": 76,
    "IBE_04": 87, "IBE_04_A": 86, "IBE_04_B": 15, "IBE_05": 95, "IBE_05_A": 81, "IBE_06": 62,
    "IBE_06_A": 51, "IBE_08": 3, "IBE_09": 87, "MIACS_01": 93, "MIACS_01_A": 12, "MIACS_02": 98,
    "MIACS_02_A": 100, "MIACS_02_B": 4, "MIACS_03": 79, "MIACS_03_A": 95, "MIACS_03_B": 29,
    "MIACS_04": 23, "NEW_BORROWERS": 18, "N_A": 88, "N_A_A": 50,
}


def write(tmp_path, lines, *, bom=True, header=HEADER, name="mapping.csv"):
    path = tmp_path / name
    text = "\r\n".join([header, *lines]) + "\r\n"
    path.write_text(text, encoding="utf-8-sig" if bom else "utf-8")
    return path


def error_of(tmp_path, lines, **kwargs) -> str:
    with pytest.raises(MappingError) as caught:
        load_mapping(write(tmp_path, lines, **kwargs))
    return str(caught.value)


@pytest.fixture(scope="module")
def default():
    return load_mapping()


def test_default_mapping_has_the_domain_tables_and_counts(default):
    assert default.table_names() == list(DOMAIN_ROWS)
    for table, rows in DOMAIN_ROWS.items():
        key_rows = 0 if table == "IBE_04_B" else 1
        assert len(default.columns(table)) == rows - key_rows, table
    assert sum(DOMAIN_ROWS.values()) == 1768
    assert len(default.source_columns()) == 1742
    assert len({s.lower() for s in default.source_columns()}) == 1742
    assert default.tables_without_key_row == ("IBE_04_B",)


def test_default_mapping_file_has_a_byte_order_mark_and_upstream_names(default):
    assert default_mapping_path().read_bytes().startswith(b"\xef\xbb\xbf")
    sources = set(default.source_columns())
    assert {"miACS_AreaLatitude", "miACS_AreaLongitude"} <= sources
    assert any(re.fullmatch(r"IBE\d{4}", s) for s in sources)
    assert any(re.fullmatch(r"IBE\d{4}_\d\d", s) for s in sources)
    assert any(re.fullmatch(r"IBE\d{4}B_\d\d", s) for s in sources)
    assert any(re.fullmatch(r"miACS_\d\d_\d{3}", s) for s in sources)
    for table in default.table_names():
        for column in default.columns(table):
            assert column.column == column.source.lower()


def test_published_columns_start_with_the_key_even_without_a_key_row(default):
    published = default.published_columns("IBE_04_B")
    assert published[0] == KEY and len(published) == 16
    assert "IBE_04_B has no customer_user_id row in the mapping; the key is added anyway" in default.decisions


def test_miacs_02_a_fits_the_allow_list_exactly(default):
    # 99 attributes + the key = 100 allowed columns; id_bucket is the partition key, not in the list.
    assert default.clean_rooms_exclusions() == {}
    assert not any(d.startswith("MIACS_02_A") for d in default.decisions)
    assert len(default.published_columns("MIACS_02_A")) == 100


def test_unknown_table_names_the_table(default):
    with pytest.raises(MappingError, match="NOPE"):
        default.columns("NOPE")


def test_catalog_name():
    assert Mapping.catalog_name("IBE_01_A") == "part_ibe_01_a"


@pytest.mark.parametrize("bom", [True, False])
def test_file_with_or_without_byte_order_mark(tmp_path, bom):
    mapping = load_mapping(write(tmp_path, ["T_1,customer_user_id,,Customer_User_id,", "T_1,a1,,A1,1"], bom=bom))
    assert mapping.table_names() == ["T_1"]
    assert mapping.published_columns("T_1") == [KEY, "a1"]


def test_mixed_case_headers_and_names_are_normalised(tmp_path):
    header = " omc_flywheel_table ,Omc_Flywheel_Column,function_description,Opus_Column,element_NUMBER"
    path = write(tmp_path, [" ibe_01 ,Customer_User_ID,,Customer_User_id,", "Ibe_01, IBE1802 ,Age,IBE1802,1802"],
                 header=header)
    mapping = load_mapping(path)
    (column,) = mapping.columns("IBE_01")
    assert (column.table, column.column, column.source, column.line) == ("IBE_01", "ibe1802", "IBE1802", 3)
    assert mapping.tables_without_key_row == ()


def test_header_columns_in_another_order(tmp_path):
    header = "OPUS_COLUMN,OMC_FLYWHEEL_COLUMN,ELEMENT_NUMBER,OMC_FLYWHEEL_TABLE,FUNCTION_DESCRIPTION"
    mapping = load_mapping(write(tmp_path, ["IBE1802,ibe1802,1802,IBE_01,Age"], header=header))
    assert mapping.columns("IBE_01")[0].description == "Age"


def test_table_without_key_row_is_a_decision(tmp_path):
    mapping = load_mapping(write(tmp_path, ["A,customer_user_id,,Customer_User_id,", "A,x,,X,", "B,y,,Y,"]))
    assert mapping.tables_without_key_row == ("B",)
    assert mapping.decisions == ("B has no customer_user_id row in the mapping; the key is added anyway",)
    assert mapping.published_columns("B") == [KEY, "y"]


def test_missing_header_column_is_named(tmp_path):
    header = "OMC_FLYWHEEL_TABLE,OMC_FLYWHEEL_COLUMN,FUNCTION_DESCRIPTION,ELEMENT_NUMBER"
    message = error_of(tmp_path, ["A,x,,1"], header=header)
    assert "OPUS_COLUMN" in message and "line 1" in message


def test_empty_file_and_header_only(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\xef\xbb\xbf")
    with pytest.raises(MappingError, match="empty"):
        load_mapping(empty)
    assert "no data rows" in error_of(tmp_path, [])


def test_missing_or_unreadable_file(tmp_path):
    with pytest.raises(MappingError, match="does not exist"):
        load_mapping(tmp_path / "absent.csv")
    with pytest.raises(MappingError, match="cannot be opened"):
        load_mapping(tmp_path)


def test_unset_path_means_the_packaged_mapping():
    assert load_mapping("").path == load_mapping(None).path == str(default_mapping_path())


def test_duplicate_column_in_a_table_names_both_lines(tmp_path):
    message = error_of(tmp_path, ["A,x,,X,", "A,y,,Y,", "A,X,,X2,"])
    assert "lines 2, 4: table A, column x: appears 2 times in A" in message


def test_empty_table_name(tmp_path):
    message = error_of(tmp_path, ["A,x,,X,", " ,y,,Y,"])
    assert "line 3: table (empty), column y: OMC_FLYWHEEL_TABLE is empty" in message


def test_empty_column_and_source(tmp_path):
    message = error_of(tmp_path, ["A,,,X,", "A,y,,,"])
    assert "line 2: table A, column (empty): OMC_FLYWHEEL_COLUMN is empty" in message
    assert "line 3: table A, column y: OPUS_COLUMN is empty" in message


def test_column_in_two_tables(tmp_path):
    message = error_of(tmp_path, ["A,x,,X,", "B,x,,X,"])
    assert "lines 2, 3: column x is mapped to tables A, B" in message
    assert "OPUS_COLUMN" not in message  # one problem, reported once
    assert "[table A, B," in message  # not pinned on one of the two


def test_source_read_for_two_columns_in_any_case(tmp_path):
    message = error_of(tmp_path, ["A,x,,IBE1802,", "A,y,,ibe1802,"])
    assert "lines 2, 3: OPUS_COLUMN IBE1802 is read for A.x, A.y" in message


@pytest.mark.parametrize("name", ["ibe-1802", "ibe 1802", "ibé1802"])
def test_invalid_column_name(tmp_path, name):
    message = error_of(tmp_path, [f"A,{name},,X,"])
    assert f"line 2: table A, column {name}: the name may hold only a-z, 0-9 and _" in message


def test_partition_key_cannot_be_an_attribute(tmp_path):
    assert "line 2: table A, column id_bucket" in error_of(tmp_path, ["A,id_bucket,,Id_Bucket,"])


def test_every_problem_is_listed_in_one_error_in_file_order(tmp_path):
    lines = ["A,x,,X,", "A,x,,Y,"] + [f"A,bad-{i},,S{i}," for i in range(25)] + [",ok,,OK,"]
    message = error_of(tmp_path, lines)
    assert message.startswith("the split mapping has 27 problems: lines 2, 3: table A, column x")
    assert "line 4: table A, column bad-0" in message and "and 7 more" in message


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "latin1.csv"
    path.write_bytes((HEADER + "\r\nA,x,Caf\xe9,X,\r\n").encode("latin-1"))
    with pytest.raises(MappingError, match="cannot be read as UTF-8"):
        load_mapping(path)


def test_key_source_shared_by_every_key_row_is_fine(tmp_path):
    rows = [f"{t},customer_user_id,,Customer_User_id," for t in "AB"] + ["A,x,,X,", "B,y,,Y,"]
    assert load_mapping(write(tmp_path, rows)).table_names() == ["A", "B"]


def test_over_limit_leaves_out_the_last_columns_in_mapping_order(tmp_path):
    rows = ["W,customer_user_id,,Customer_User_id,"] + [f"W,c{i:03d},,C{i:03d}," for i in range(100)]
    mapping = load_mapping(write(tmp_path, rows))
    assert mapping.clean_rooms_exclusions() == {"W": ["c099"]}
    assert "100 attributes + customer_user_id = 101 columns to allow" in mapping.decisions[0]
    assert "c099, which stays in the data" in mapping.decisions[0]
