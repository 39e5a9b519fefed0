"""Write the shipped default split mapping, flywheel_lib/data/split_mapping.csv.

The real mapping is not ours to publish, so this builds a stand-in with the
same shape: the 27 tables in the production order, the same row count per
table (1,768 rows: 1,742 attributes plus a customer_user_id row in every table
but IBE_04_B), upstream naming patterns and a UTF-8 byte-order mark.

DOMAIN.md's table lists 26 tables summing to 1,670 rows; the 27th is
MIACS_02 with 98 rows (the gap between MIACS_01_A and MIACS_02_A, and exactly
the 98 rows the totals are missing).

Deterministic: names and descriptions come from md5 of fixed strings, never
from `random` or `hash()`. Run `python tools/make_default_mapping.py` and
commit the CSV with any change to this file.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "flywheel_lib" / "data" / "split_mapping.csv"
HEADER = ("OMC_FLYWHEEL_TABLE", "OMC_FLYWHEEL_COLUMN", "FUNCTION_DESCRIPTION", "OPUS_COLUMN", "ELEMENT_NUMBER")

# (table, mapping rows including the key row where present), in production order.
TABLES = (
    ("IBE_01", 97), ("IBE_01_A", 65), ("IBE_02", 93), ("IBE_02_A", 85),
    ("IBE_03", 96), ("IBE_03_A", 76), ("IBE_04", 87), ("IBE_04_A", 86),
    ("IBE_04_B", 15), ("IBE_05", 95), ("IBE_05_A", 81), ("IBE_06", 62),
    ("IBE_06_A", 51), ("IBE_08", 3), ("IBE_09", 87), ("MIACS_01", 93),
    ("MIACS_01_A", 12), ("MIACS_02", 98), ("MIACS_02_A", 100), ("MIACS_02_B", 4),
    ("MIACS_03", 79), ("MIACS_03_A", 95), ("MIACS_03_B", 29), ("MIACS_04", 23),
    ("NEW_BORROWERS", 18), ("N_A", 88), ("N_A_A", 50),
)
NO_KEY_ROW = {"IBE_04_B"}

IBE_TOPICS = (
    "Age in two-year increments", "Home owner / renter", "Estimated household income",
    "Length of residence", "Presence of children", "Marital status", "Occupation",
    "Education", "Dwelling type", "Home market value", "Net worth", "Credit card user",
    "Mail order buyer", "Charitable donor", "Political affiliation", "Vehicle make",
    "Vehicle model year", "Pet owner", "Outdoor enthusiast", "Travel interest",
    "Investing interest", "Health interest", "Cooking interest", "Sports interest",
    "Gender", "Number of adults", "Household size", "Ethnicity", "Language preference",
    "Religious affiliation", "Internet purchaser", "Mortgage amount", "Home year built",
)
IBE_SCOPES = ("Input Individual", "Household", "1st Individual", "2nd Individual", "Person")
ACS_TOPICS = (
    "Percent of households with income $50,000-$74,999", "Median household income",
    "Percent owner-occupied housing units", "Median age", "Percent bachelor's degree or higher",
    "Percent married-couple families", "Median gross rent", "Percent households with children",
    "Percent foreign born", "Mean travel time to work", "Percent below poverty level",
    "Median home value", "Percent housing units built before 1960", "Population density",
)
NEW_BORROWER_FIELDS = (
    "Flag", "Loan_Type", "Loan_Amount_Range", "Lender_Type", "Recording_Date",
    "Mortgage_Type", "Interest_Rate_Type", "Loan_Term", "Auto_Loan_Flag", "Student_Loan_Flag",
    "Personal_Loan_Flag", "HELOC_Flag", "Refinance_Flag", "Purchase_Flag", "First_Time_Buyer",
    "Months_Since_Origination", "Credit_Tier",
)
ADDRESS3_FIELDS = (
    "House_Number", "Predirectional", "Street_Name", "Street_Suffix", "Postdirectional",
    "Unit_Designator", "Unit_Number", "City", "State", "Zip5", "Zip4", "Delivery_Point",
    "Carrier_Route", "County_Code", "County_Name", "Fips_State", "Fips_County", "Census_Tract",
    "Census_Block_Group", "Census_Block", "Msa_Code", "Cbsa_Code", "Dma_Code", "Latitude",
    "Longitude", "Geo_Match_Level", "Address_Type", "Dwelling_Type", "Dpv_Code", "Vacancy_Flag",
    "Seasonal_Flag", "Ncoa_Move_Flag", "Ncoa_Move_Date", "Length_Of_Residence",
    "Home_Owner_Renter", "First_Seen_Date", "Last_Seen_Date", "Address_Quality_Code", "Lot_Code",
    "Lot_Order", "Time_Zone", "Dst_Flag", "Urbanicity", "Rural_Urban_Code",
    "Congressional_District", "Po_Box_Flag", "Military_Flag", "Address_Rank", "Source_Count",
)


def pick(key: str, n: int) -> int:
    """A stable pseudo-random choice in range(n), the same on every machine."""
    return int(hashlib.md5(key.encode()).hexdigest()[:12], 16) % n


def ibe_rows(table: str, count: int, first_element: int) -> list[tuple[str, str, str]]:
    """(source, description, element) rows: IBE1802, IBE2058_01.., IBE7964B_01.."""
    rows: list[tuple[str, str, str]] = []
    element = first_element
    while len(rows) < count:
        element += 1 + pick(f"{table}:gap:{element}", 9)
        topic = IBE_TOPICS[pick(f"{table}:topic:{element}", len(IBE_TOPICS))]
        scope = IBE_SCOPES[pick(f"{table}:scope:{element}", len(IBE_SCOPES))]
        shape = pick(f"{table}:shape:{element}", 6)
        if shape < 3:  # most elements are one column
            rows.append((f"IBE{element}", f"{topic} - {scope}", str(element)))
            continue
        letter = "B" if shape == 5 else ""
        for occurrence in range(1, 2 + pick(f"{table}:n:{element}", 5)):
            rows.append((f"IBE{element}{letter}_{occurrence:02d}",
                         f"{topic} - Person {occurrence}", str(element)))
    return rows[:count]


def miacs_rows(table: str, count: int, group: int) -> list[tuple[str, str, str]]:
    """miACS_<group>_<nnn> census-style measures, one group per table; MIACS_01 leads with the area fields."""
    rows: list[tuple[str, str, str]] = []
    if table == "MIACS_01":
        rows += [("miACS_AreaType", "ACS geography level of the matched area", "901"),
                 ("miACS_AreaLatitude", "Latitude of the matched area centroid", "902"),
                 ("miACS_AreaLongitude", "Longitude of the matched area centroid", "903")]
    for number in range(1, count - len(rows) + 1):
        topic = ACS_TOPICS[pick(f"{table}:{number}", len(ACS_TOPICS))]
        rows.append((f"miACS_{group:02d}_{number:03d}", f"{topic} (block group)",
                     str(group * 1000 + number)))
    return rows


def other_rows(table: str, count: int) -> list[tuple[str, str, str]]:
    """NEW_BORROWERS, N_A (mostly undescribed leftovers) and N_A_A (third address)."""
    if table == "NEW_BORROWERS":
        fields = NEW_BORROWER_FIELDS
        return [(f"NB_{f}", f"New borrower: {f.replace('_', ' ').lower()}", str(8601 + i))
                for i, f in enumerate(fields)][:count]
    if table == "N_A_A":
        return [(f"Address3_{f}", f"Third address: {f.replace('_', ' ').lower()}", str(8701 + i))
                for i, f in enumerate(ADDRESS3_FIELDS)][:count]
    rows = []
    for i in range(count):
        element = 9501 + i * 3
        described = pick(f"N_A:{element}", 3) == 0  # two in three have no description
        rows.append((f"IBE{element}", f"Legacy element {element}" if described else "", str(element)))
    return rows


def attribute_rows(table: str, count: int, index: int) -> list[tuple[str, str, str]]:
    if table.startswith("IBE_"):
        return ibe_rows(table, count, 1000 + index * 550)
    if table.startswith("MIACS_"):
        return miacs_rows(table, count, 1 + (index - 15) * 2)
    rows = other_rows(table, count)
    if len(rows) != count:
        raise SystemExit(f"{table}: {len(rows)} names for {count} attributes")
    return rows


def build() -> list[tuple[str, ...]]:
    out: list[tuple[str, ...]] = []
    for index, (table, total) in enumerate(TABLES):
        has_key = table not in NO_KEY_ROW
        if has_key:
            out.append((table, "customer_user_id", "Customer user identifier", "Customer_User_id", ""))
        for source, description, element in attribute_rows(table, total - has_key, index):
            out.append((table, source.lower(), description, source, element))
    sources = [r[3] for r in out if r[1] != "customer_user_id"]
    if len(set(s.lower() for s in sources)) != len(sources):
        raise SystemExit("generated source names are not unique")
    return out


def main() -> None:
    rows = build()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\r\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
    print(f"wrote {len(rows)} rows, {len(TABLES)} tables to {OUT}", file=sys.stderr)


if __name__ == "__main__":
    main()
