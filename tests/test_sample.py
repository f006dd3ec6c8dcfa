"""The synthetic city: deterministic, valid where it should be, faulty only where planted."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from pricing.billing.creditcode import check_char
from pricing.sample import (
    CHINESE_HEADERS,
    REGISTER_COLUMNS,
    credit_check_chars,
    write_sample,
)

RULES = Path(__file__).resolve().parents[1] / "rules"


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("city")
    files = write_sample(out, enterprises=1500, months=3, seed=7, start="2025-01")
    return out, files


def _billing(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    first = write_sample(tmp_path / "a", enterprises=300, months=2, seed=3)
    second = write_sample(tmp_path / "b", enterprises=300, months=2, seed=3)
    other = write_sample(tmp_path / "c", enterprises=300, months=2, seed=4)
    for a, b in zip([first.register, *first.billing, first.overrides],
                    [second.register, *second.billing, second.overrides], strict=True):
        assert a.read_bytes() == b.read_bytes()
    assert first.register.read_bytes() != other.register.read_bytes()


def test_file_names_and_register_year(city) -> None:
    out, files = city
    assert [p.name for p in files.billing] == [
        "billing-2025-01.csv", "billing-2025-02.csv", "billing-2025-03.csv"]
    register = pd.read_csv(files.register, dtype=str)
    assert len(register) == 1500
    assert set(register["year"]) == {"2024"}
    assert register["enterprise_id"].is_unique


def test_register_columns_are_the_fields_rulebooks_read(city) -> None:
    _, files = city
    fields: set[str] = set()
    for path in RULES.glob("*.yaml"):
        fields |= set(yaml.safe_load(path.read_text(encoding="utf-8"))["fields"])
    header = pd.read_csv(files.register, nrows=0).columns.tolist()
    assert header == REGISTER_COLUMNS
    assert set(header) == fields | {"enterprise_id", "name", "district", "industry_code", "year"}


def test_credit_codes_are_valid_per_gb32100(city) -> None:
    _, files = city
    ids = pd.read_csv(files.register, dtype=str)["enterprise_id"]
    assert (ids.str.len() == 18).all()
    assert all(check_char(code[:17]) == code[17] for code in ids)


def test_vectorized_check_char_matches_the_reference() -> None:
    prefixes = ["91330212MA2AGH1X3", "00000000000000000", "YYYYYYYYYYYYYYYYY"]
    assert list(credit_check_chars(pd.Series(prefixes).to_numpy())) == [
        check_char(p) for p in prefixes]


def test_every_enterprise_has_one_to_three_electricity_accounts(city) -> None:
    _, files = city
    lines = _billing(files.billing[0])
    clean = lines[lines["utility"] == "electricity"].drop_duplicates()
    per_enterprise = clean.groupby("enterprise_id")["account_id"].nunique()
    register = pd.read_csv(files.register, dtype=str)
    valid_ids = set(register["enterprise_id"])
    per_enterprise = per_enterprise[per_enterprise.index.isin(valid_ids)]
    assert per_enterprise.between(1, 3).all()
    assert len(per_enterprise) >= 0.99 * len(register)


def test_faults_are_planted_and_rare(city) -> None:
    _, files = city
    register_ids = set(pd.read_csv(files.register, dtype=str)["enterprise_id"])
    lines = _billing(files.billing[0])
    numeric = pd.to_numeric(lines["quantity"], errors="coerce")
    production = pd.to_numeric(lines["production_quantity"].replace("", None), errors="coerce")
    faults = {
        "bad_enterprise_id": ~lines["enterprise_id"].isin(register_ids),
        "bad_number": numeric.isna(),
        "unknown_utility": ~lines["utility"].isin(["electricity", "water"]),
        "duplicate_line": lines.duplicated(["utility", "account_id", "period"], keep=False),
        "production_exceeds_total": production > numeric,
    }
    for reason, mask in faults.items():
        assert 1 <= mask.sum() <= 0.01 * len(lines), reason
    faulty = pd.concat(faults, axis=1).any(axis=1)
    assert faulty.mean() < 0.05
    clean = lines[~faulty]
    assert (clean.loc[clean["utility"] == "water", "base_price"] == "4.32").all()
    assert (clean["quantity"].str.fullmatch(r"\d+")).all()


def test_water_lines_carry_quota_and_base_price(city) -> None:
    _, files = city
    lines = _billing(files.billing[0])
    water = lines[lines["utility"] == "water"]
    assert len(water) > 0.4 * lines["enterprise_id"].nunique()
    assert (water["quota"] != "").all()
    assert (lines.loc[lines["utility"] == "electricity", "quota"] == "").all()


def test_last_month_is_gb18030_with_chinese_headers(city) -> None:
    _, files = city
    raw = files.billing[-1].read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    text = raw.decode("gb18030")
    assert text.splitlines()[0].split(",") == list(CHINESE_HEADERS.values())
    lines = pd.read_csv(files.billing[-1], dtype=str, encoding="gb18030", keep_default_na=False)
    assert {"电", "水"} <= set(lines["类别"])
    assert set(lines["计费月份"]) == {"202503"}
    assert b"\r\n" not in files.billing[0].read_bytes()


def test_overrides_name_registered_enterprises_and_real_classes(city) -> None:
    _, files = city
    overrides = pd.read_csv(files.overrides, dtype=str, keep_default_na=False)
    register_ids = set(pd.read_csv(files.register, dtype=str)["enterprise_id"])
    assert 1 <= len(overrides) <= 2
    for _, row in overrides.iterrows():
        rulebook = yaml.safe_load((RULES / f"{row['rulebook']}.yaml").read_text(encoding="utf-8"))
        assert row["enterprise_id"] in register_ids
        assert row["class"] in rulebook["classes"]
        assert row["reference"] and row["reason"]


def test_bundled_industries_are_all_present(city) -> None:
    _, files = city
    codes = set(pd.read_csv(files.register, dtype=str)["industry_code"])
    assert {"C3391", "C3392", "C3120", "C3011", "C3216", "C3110"} <= codes
