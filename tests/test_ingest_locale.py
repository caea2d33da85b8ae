"""Ingest of a shop's own export as it comes: German column names, ';' delimiter, decimal commas,
thousands separators, dd/mm/yyyy dates, and personal data mapped from a customers file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from targetwise.errors import ConfigError
from targetwise.io.ingest import ingest
from targetwise.io.mapping import load_mapping
from targetwise.io.workspace import Workspace

NOW = datetime(2025, 6, 1, tzinfo=UTC)

GERMAN = (
    "Kundennummer;Rechnungsnummer;Bestelldatum;Artikelnummer;Bezeichnung;Menge;Stückpreis\n"
    "K001;R1;03/01/2024;A-1;Kaffeebecher;2;4,50\n"
    "K001;R1;03/01/2024;A-2;Teekanne;1;1.234,99\n"
    "K002;R2;15/02/2024;A-1;Kaffeebecher;-1;4,50\n"
    "K003;R3;31/12/2024;A-3;Geschenkkarte;1.000;0,99\n"
    "K003;R4;01/06/2024;A-2;Teekanne;3;12\n"
)

GERMAN_MAPPING = """
table = "transactions"
[columns]
customer_id = "Kundennummer"
order_id = "Rechnungsnummer"
ordered_at = "Bestelldatum"
product_id = "Artikelnummer"
quantity = "Menge"
unit_price = "Stückpreis"
[options]
delimiter = ";"
date_format = "%d/%m/%Y"
decimal = ","
thousands = "."
[derive.products]
product_id = "Artikelnummer"
name = "Bezeichnung"
"""


def _files(tmp_path: Path, data: str, mapping: str) -> tuple[Path, Path]:
    csv, toml = tmp_path / "bestellungen.csv", tmp_path / "bestellungen.toml"
    csv.write_text(data, encoding="utf-8")
    toml.write_text(mapping, encoding="utf-8")
    return csv, toml


def test_german_export_ingests_without_quarantine(workspace: Workspace, tmp_path: Path) -> None:
    csv, toml = _files(tmp_path, GERMAN, GERMAN_MAPPING)
    s = ingest(workspace, "transactions", csv, mapping=toml, now=NOW)
    assert s.rows_quarantined == 0 and s.reasons == {}
    assert s.rows_loaded == 5 and s.derived == {"products": 3}
    with workspace.connect(read_only=True) as con:
        rows = con.execute(
            "SELECT order_id, product_id, CAST(ordered_at AS DATE)::VARCHAR, quantity, unit_price "
            "FROM transactions ORDER BY source_row"
        ).fetchall()
        names = dict(con.execute("SELECT product_id, name FROM products").fetchall())
    assert rows == [
        ("R1", "A-1", "2024-01-03", 2, 4.5),  # 03/01 is 3 January (day first), 4,50 is 4.5
        ("R1", "A-2", "2024-01-03", 1, 1234.99),  # 1.234,99: thousands dot, decimal comma
        ("R2", "A-1", "2024-02-15", -1, 4.5),
        ("R3", "A-3", "2024-12-31", 1000, 0.99),  # quantity 1.000 is a thousand
        ("R4", "A-2", "2024-06-01", 3, 12.0),
    ]
    assert names == {"A-1": "Kaffeebecher", "A-2": "Teekanne", "A-3": "Geschenkkarte"}


@pytest.mark.parametrize(
    ("price", "quantity", "code"),
    [
        ("1.5", "1", "invalid_number"),  # a dot that groups no thousands is not read as 15
        ("1.23,4.5", "1", "invalid_number"),
        ("4.50", "1", "invalid_number"),  # a dot decimal where the file declares decimal commas
        ("4,50", "1,5", "invalid_integer"),  # 1,5 units is no whole number
        ("12.34", "1", "invalid_number"),
    ],
)
def test_numbers_of_another_shape_are_quarantined_not_misread(
    workspace: Workspace, tmp_path: Path, price: str, quantity: str, code: str
) -> None:
    data = GERMAN + f"K004;R9;02/02/2024;A-1;Kaffeebecher;{quantity};{price}\n"
    csv, toml = _files(tmp_path, data, GERMAN_MAPPING)
    s = ingest(workspace, "transactions", csv, mapping=toml, now=NOW)
    assert s.reasons == {code: 1} and s.rows_loaded == 5
    with workspace.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM transactions WHERE order_id = 'R9'").fetchone() == (0,)


@pytest.mark.parametrize(
    ("thousands", "price", "expected"),
    [(" ", "1 234,5", 1234.5), ("\u00a0", "12\u00a0345,25", 12345.25), ("'", "1'000,75", 1000.75)],
)
def test_space_and_apostrophe_thousands(workspace: Workspace, tmp_path: Path, thousands: str, price: str, expected: float) -> None:
    data = "customer_id;order_id;ordered_at;product_id;quantity;unit_price\n" f"C1;O1;2024-01-02;P1;1;{price}\n"
    mapping = f'[options]\ndelimiter = ";"\ndecimal = ","\nthousands = "{thousands}"\n'
    csv, toml = _files(tmp_path, data, mapping)
    s = ingest(workspace, "transactions", csv, mapping=toml, now=NOW)
    assert s.rows_quarantined == 0
    with workspace.connect(read_only=True) as con:
        assert con.execute("SELECT unit_price FROM transactions").fetchone() == (expected,)


def test_dot_decimal_with_comma_thousands(workspace: Workspace, tmp_path: Path) -> None:
    data = 'customer_id,order_id,ordered_at,product_id,quantity,unit_price\nC1,O1,2024-01-02,P1,"2,000","1,234.50"\n'
    csv, toml = _files(tmp_path, data, '[options]\nthousands = ","\n')
    s = ingest(workspace, "transactions", csv, mapping=toml, now=NOW)
    assert s.rows_quarantined == 0
    with workspace.connect(read_only=True) as con:
        assert con.execute("SELECT quantity, unit_price FROM transactions").fetchone() == (2000, 1234.5)


def test_separators_change_the_mapping_digest(tmp_path: Path) -> None:
    plain, german = tmp_path / "a.toml", tmp_path / "b.toml"
    plain.write_text("[options]\n")
    german.write_text('[options]\ndecimal = ","\n')
    a, b = load_mapping(plain, table="transactions"), load_mapping(german, table="transactions")
    assert (a.decimal, a.thousands, b.decimal) == (".", None, ",")
    assert a.digest() != b.digest()  # the same file read with other separators is another load


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ('decimal = ";"', "decimal = ';' is not a decimal separator"),
        ('decimal = ","\nthousands = ","', "thousands = ',' is not a thousands separator (it is also the decimal"),
        ('thousands = "x"', "thousands = 'x' is not a thousands separator"),
        ("decimal = 1", "decimal = 1 is not a decimal separator"),
    ],
)
def test_bad_separator_options_are_refused(tmp_path: Path, options: str, message: str) -> None:
    toml = tmp_path / "m.toml"
    toml.write_text(f"[options]\n{options}\n")
    with pytest.raises(ConfigError) as err:
        load_mapping(toml, table="transactions")
    assert message in str(err.value)


def test_derived_prices_are_read_with_the_separators(workspace: Workspace, tmp_path: Path) -> None:
    mapping = GERMAN_MAPPING.replace('name = "Bezeichnung"', 'name = "Bezeichnung"\nprice = "Stückpreis"')
    csv, toml = _files(tmp_path, GERMAN, mapping)
    ingest(workspace, "transactions", csv, mapping=toml, now=NOW)
    with workspace.connect(read_only=True) as con:
        prices = dict(con.execute("SELECT product_id, price FROM products").fetchall())
    assert prices == {"A-1": 4.5, "A-2": 1234.99, "A-3": 0.99}  # the most frequent value per product


# -- personal data in a customers file ------------------------------------------------------

CUSTOMERS = "Kunde;Land;Mail;Telefon;Anmeldung\nK1;DE;anna@example.com;+4930123;02/01/2023\nK2;AT;bernd@example.com;;05/03/2023\n"
CUSTOMERS_MAPPING = """
[columns]
customer_id = "Kunde"
country = "Land"
email = "Mail"
phone = "Telefon"
signup_at = "Anmeldung"
[options]
delimiter = ";"
date_format = "%d/%m/%Y"
"""


def test_email_and_phone_map_from_a_customers_file_into_customer_pii(workspace: Workspace, tmp_path: Path) -> None:
    csv, toml = _files(tmp_path, CUSTOMERS, CUSTOMERS_MAPPING)
    s = ingest(workspace, "customers", csv, mapping=toml, now=NOW)
    assert s.rows_loaded == 2 and s.pii_rows == 2 and s.rows_quarantined == 0
    with workspace.connect(read_only=True) as con:
        pii = con.execute("SELECT customer_id, email, phone FROM customer_pii ORDER BY 1").fetchall()
        customers = con.execute("SELECT customer_id, country, CAST(signup_at AS DATE)::VARCHAR FROM customers ORDER BY 1").fetchall()
        columns = {r[0] for r in con.execute("DESCRIBE customers").fetchall()}
    assert pii == [("K1", "anna@example.com", "+4930123"), ("K2", "bernd@example.com", None)]
    assert customers == [("K1", "DE", "2023-01-02"), ("K2", "AT", "2023-03-05")]
    assert "email" not in columns  # personal data stays apart
    assert workspace.pii_for(["K2"])["email"].tolist() == ["bernd@example.com"]


def test_pii_in_a_transactions_mapping_says_where_it_goes(tmp_path: Path) -> None:
    toml = tmp_path / "m.toml"
    toml.write_text('[columns]\nemail = "Mail"\n')
    with pytest.raises(ConfigError) as err:
        load_mapping(toml, table="transactions")
    assert "maps to unknown column(s) ['email']" in str(err.value)
    assert "[derive.customer_pii]" in (err.value.fix or "")
