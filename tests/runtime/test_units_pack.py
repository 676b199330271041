"""The units pack (AssemblyScript): unit conversion offline, currency rates through the host.

The rates service is a fixture server on 127.0.0.1 answering as api.frankfurter.app does;
the pack's fetches reach it through the real fetch policy and the host's fetch cache.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterator

import pytest

from corral import GuestError
from corral.testing import FixtureRequest, FixtureServer, PackHarness, Reply

UNITS = Path(__file__).resolve().parents[2] / "packs" / "units"
#: What one EUR buys, as the README's examples assume.
EUR_RATES = {"USD": 1.08, "GBP": 0.85, "JPY": 160.5}


def _latest(request: FixtureRequest) -> Reply:
    """``GET /latest?from=B[&to=T]`` the way Frankfurter answers it (EUR-based rates here)."""
    base = request.query.get("from", ["EUR"])[0]
    wanted = request.query.get("to", [None])[0]
    table = {"EUR": 1.0, **EUR_RATES}
    if base not in table or (wanted is not None and wanted not in table):
        return Reply(status=404, json={"message": "not found"})
    rates = {code: round(value / table[base], 6) for code, value in table.items()
             if code != base and (wanted is None or code == wanted)}
    return Reply(json={"amount": 1.0, "base": base, "date": "2024-05-03", "rates": rates})


@pytest.fixture
def api() -> Iterator[FixtureServer]:
    with FixtureServer() as server:
        server.route("GET", "/latest", _latest)
        yield server


@pytest.fixture
def units(api: FixtureServer) -> Iterator[PackHarness]:
    with PackHarness(UNITS, server=api) as harness:
        yield harness


def test_every_readme_example(units: PackHarness) -> None:
    readme = (UNITS / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(=units\.[^`]+)` \| `([^`]+)` \|$", readme, flags=re.M)
    assert len(rows) >= 8, "the README's example table went missing"
    for formula, expected in rows:
        assert units.host.evaluate(formula) == pytest.approx(json.loads(expected)), formula


def test_conversions(units: PackHarness) -> None:
    assert units.call("Convert", 1, "mi", "km") == pytest.approx(1.609344)
    assert units.call("Convert", 0, "K", "C") == pytest.approx(-273.15)
    assert units.call("Convert", 1, "mm", "mi") == pytest.approx(6.21371192237e-07)
    assert units.call("Convert", 3, "KM", "m") == 3000, "symbols ignore case"
    assert units.call("UnitInfo", "gal") == {"unit": "gal", "name": "US gallon",
                                             "dimension": "volume", "base": "l",
                                             "factor": 3.785411784}


def test_conversion_errors_name_the_units(units: PackHarness) -> None:
    with pytest.raises(GuestError, match=r"cannot convert kg \(mass\) to km \(length\)"):
        units.call("Convert", 1, "kg", "km")
    with pytest.raises(GuestError, match="unknown unit 'parsec'"):
        units.call("Convert", 1, "parsec", "m")


def test_unit_autocomplete_follows_the_from_dimension(units: PackHarness) -> None:
    values = [c["value"] for c in units.autocomplete("Convert", "from", "k")]
    assert values == ["km", "kg", "K"]
    assert [c["value"] for c in units.autocomplete("Convert", "to", "", 1, "lb")] == \
        ["kg", "g", "mg", "lb", "oz"]
    assert units.autocomplete("Convert", "to", "m", 1, "h") == [
        {"display": "min (minute)", "value": "min"}]


def test_currency_rates_are_fetched_once_and_cached(units: PackHarness,
                                                    api: FixtureServer) -> None:
    assert units.call("ConvertCurrency", 10, "eur", "usd") == 10.8
    assert units.call("ConvertCurrency", 20, "EUR", "USD") == 21.6
    assert units.call("ExchangeRate", "EUR", "USD") == 1.08
    assert api.hits("GET", "/latest") == 1, "the host's fetch cache answers the repeats"
    sent = api.requests[0]
    assert sent.query == {"from": ["EUR"], "to": ["USD"]}
    assert sent.headers["accept"] == "application/json"


def test_the_same_currency_needs_no_fetch(units: PackHarness, api: FixtureServer) -> None:
    assert units.call("ConvertCurrency", 5, "JPY", "jpy") == 5
    assert api.requests == []


def test_currency_errors(units: PackHarness, api: FixtureServer) -> None:
    with pytest.raises(GuestError, match="'dollars' is not a 3-letter currency code"):
        units.call("ExchangeRate", "dollars", "EUR")
    with pytest.raises(GuestError, match="the rates service answered 404: not found"):
        units.call("ExchangeRate", "EUR", "XXX")
    assert api.hits("GET", "/latest") == 1


def test_rates_sync_table(units: PackHarness) -> None:
    rows = units.sync("Rates", "usd")
    assert {r["currency"] for r in rows} == {"EUR", "GBP", "JPY"}
    assert all(r["base"] == "USD" and r["date"] == "2024-05-03" for r in rows)
    by_code = {r["currency"]: r["rate"] for r in rows}
    assert by_code["EUR"] == pytest.approx(1 / 1.08, rel=1e-5)
    assert len(units.sync("Rates")) == 3, "the base defaults to EUR"

