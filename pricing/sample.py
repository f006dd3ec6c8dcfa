"""A synthetic city for demos, tests and benchmarks (SPEC `diffprice sample`).

Writes a register, monthly billing extracts and an overrides file that exercise every bundled
rulebook (rules/*.yaml) and tariff: plausible distributions around the DOMAIN.md thresholds, a
few missing indicators, and a handful of faulty billing lines so the reject path is exercised.
Everything is drawn from one seeded numpy Generator and built column-wise, so the same seed gives
byte-identical files and 100k enterprises × 1M lines take seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

CREDIT_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
CREDIT_WEIGHTS = np.array([1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28])

# Ningbo divisions; weights lean to Yuyao, where most 中频炉 stainless firms were (DOMAIN.md).
DISTRICTS = {
    "330203": ("海曙", 0.07), "330205": ("江北", 0.07), "330206": ("北仑", 0.12),
    "330211": ("镇海", 0.07), "330212": ("鄞州", 0.15), "330213": ("奉化", 0.08),
    "330225": ("象山", 0.05), "330226": ("宁海", 0.06), "330281": ("余姚", 0.18),
    "330282": ("慈溪", 0.15),
}

# family, GB/T 4754-2017 code, share of enterprises, name suffix
INDUSTRIES = [
    ("foundry", "C3391", 0.060, "铸造"), ("foundry", "C3392", 0.025, "精密铸钢"),
    ("stainless", "C3120", 0.020, "不锈钢"), ("stainless", "C3130", 0.010, "不锈钢管业"),
    ("steel", "C3110", 0.004, "钢铁"), ("steel", "C3120", 0.006, "特钢"),
    ("steel", "C3130", 0.010, "钢带"), ("steel", "C3140", 0.003, "合金材料"),
    ("cement", "C3011", 0.012, "水泥"), ("aluminium", "C3216", 0.003, "铝业"),
    ("other", "C1711", 0.120, "纺织"), ("other", "C2614", 0.080, "化工"),
    ("other", "C3360", 0.060, "表面处理"), ("other", "C2221", 0.040, "纸业"),
    ("other", "C2922", 0.150, "塑料制品"), ("other", "C3484", 0.200, "机械"),
    ("other", "C3981", 0.150, "电子"), ("other", "C1810", 0.057, "服饰"),
]

BRAND_CHARS = list("华宏鑫盛恒泰隆兴达通宇峰博瑞嘉丰源昌顺利海甬明东方正润金银")

# every indicator a bundled rulebook reads (the `fields` of rules/*.yaml), in register order
INDICATOR_COLUMNS = [
    "output_t", "energy_tce", "electricity_kwh", "furnace", "furnace_size", "product", "cupola",
    "ac_kwh", "renewable_kwh", "kiln", "special_cement", "clinker_t", "clinker_kwh",
    "ule_unmet_items", "tax_10k_yuan", "land_mu", "value_added_10k_yuan", "emissions_t",
    "rd_10k_yuan", "revenue_10k_yuan", "employees",
]
REGISTER_COLUMNS = ["enterprise_id", "name", "district", "industry_code", "year",
                    *INDICATOR_COLUMNS]
BILLING_COLUMNS = ["utility", "account_id", "enterprise_id", "period", "quantity",
                   "production_quantity", "quota", "base_price"]
CHINESE_HEADERS = {
    "utility": "类别", "account_id": "户号", "enterprise_id": "统一社会信用代码",
    "period": "计费月份", "quantity": "用量", "production_quantity": "生产用量",
    "quota": "定额", "base_price": "基础单价",
}
OVERRIDE_COLUMNS = ["enterprise_id", "rulebook", "class", "valid_from", "valid_to",
                    "reference", "reason"]
WATER_BASE_PRICE = "4.32"  # Ningbo 2022 basic water price for industry (DOMAIN.md)
FAULT_SHARE = 0.0005  # per fault kind and month: five kinds stay far below the 5% reject limit
KGCE_PER_KWH = 0.1229


@dataclass(frozen=True)
class SampleFiles:
    register: Path
    billing: list[Path]
    overrides: Path


def credit_check_chars(first17: np.ndarray) -> np.ndarray:
    """Check characters for an array of 17-character prefixes (GB 32100-2015; SPEC "Words")."""
    lookup = np.zeros(256, dtype=np.int64)
    lookup[[ord(c) for c in CREDIT_ALPHABET]] = np.arange(len(CREDIT_ALPHABET))
    raw = np.frombuffer("".join(first17).encode("ascii"), dtype=np.uint8).reshape(-1, 17)
    check = (31 - (lookup[raw] @ CREDIT_WEIGHTS) % 31) % 31
    return np.array(list(CREDIT_ALPHABET))[check]


def write_sample(out: Path, enterprises: int = 2000, months: int = 3, seed: int = 1,
                 start: str = "2025-01", chinese_month: int | None = None) -> SampleFiles:
    """Write register.csv, billing-YYYY-MM.csv per month and overrides.csv into ``out``.

    ``chinese_month`` (1-based) is written in GB18030 with Chinese headers and 电/水; by default
    the last month when there is more than one, so both reading paths are exercised.
    """
    if enterprises < 1 or months < 1:
        raise ValueError("enterprises and months must be at least 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    periods = pd.period_range(pd.Period(start, freq="M"), periods=months, freq="M")
    if chinese_month is None and months > 1:
        chinese_month = months
    register = _register(rng, enterprises, periods[0].year - 1)
    register_path = out / "register.csv"
    register.to_csv(register_path, index=False, lineterminator="\n", encoding="utf-8")
    accounts = _accounts(rng, register)
    billing_paths = []
    for number, period in enumerate(periods, start=1):
        lines = _billing_month(rng, accounts, period)
        path = out / f"billing-{period.strftime('%Y-%m')}.csv"
        if number == chinese_month:
            _write_chinese(lines, path)
        else:
            lines.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")
        billing_paths.append(path)
    overrides_path = out / "overrides.csv"
    _overrides(register, periods).to_csv(overrides_path, index=False, lineterminator="\n",
                                         encoding="utf-8")
    return SampleFiles(register_path, billing_paths, overrides_path)


def _register(rng: np.random.Generator, n: int, year: int) -> pd.DataFrame:
    shares = np.array([s for _, _, s, _ in INDUSTRIES])
    pick = rng.choice(len(INDUSTRIES), size=n, p=shares / shares.sum())
    family = np.array([f for f, _, _, _ in INDUSTRIES])[pick]
    code = np.array([c for _, c, _, _ in INDUSTRIES])[pick]
    suffix = np.array([w for _, _, _, w in INDUSTRIES])[pick]
    weights = np.array([w for _, w in DISTRICTS.values()])
    district = np.array(list(DISTRICTS))[rng.choice(len(DISTRICTS), size=n,
                                                    p=weights / weights.sum())]
    organisation = rng.choice(10**9, size=n, replace=False)
    first17 = np.char.add(np.char.add("91", district),
                          np.char.zfill(organisation.astype(str), 9))
    enterprise_id = np.char.add(first17, credit_check_chars(first17))
    brand = np.char.add(np.array(BRAND_CHARS)[rng.integers(0, len(BRAND_CHARS), n)],
                        np.array(BRAND_CHARS)[rng.integers(0, len(BRAND_CHARS), n)])
    name = np.char.add(np.char.add(np.char.add("宁波", brand), suffix), "有限公司")

    is_ = {f: family == f for f in ("foundry", "stainless", "steel", "cement", "aluminium")}
    electricity_kwh = np.rint(rng.lognormal(np.log(1.5e6), 0.8, n))
    for fam, scale in (("foundry", 4e6), ("stainless", 1.2e7), ("steel", 6e7),
                       ("cement", 5e7), ("aluminium", 2e9)):
        electricity_kwh[is_[fam]] = np.rint(rng.lognormal(np.log(scale), 0.5, is_[fam].sum()))
    output_t = np.round(rng.lognormal(np.log(8000), 0.7, n), 1)
    kgce_per_t = electricity_kwh * KGCE_PER_KWH * 1.3 / output_t
    kgce_per_t[is_["foundry"]] = rng.normal(560, 160, is_["foundry"].sum()).clip(250, 1600)
    kgce_per_t[is_["stainless"]] = rng.normal(125, 25, is_["stainless"].sum()).clip(60, 260)
    kgce_per_t[is_["steel"]] = rng.normal(420, 60, is_["steel"].sum()).clip(200, 700)
    energy_tce = np.round(output_t * kgce_per_t / 1000, 2)

    furnace = np.full(n, None, dtype=object)
    furnace_size = np.full(n, np.nan)
    product = np.full(n, None, dtype=object)
    cupola = np.full(n, None, dtype=object)
    f = is_["foundry"]
    furnace[f] = rng.choice(["intermediate-frequency", "coreless-aluminium-shell",
                             "electric-arc"], f.sum(), p=[0.75, 0.07, 0.18])
    cupola[f] = rng.choice(["none", "small", "large"], f.sum(), p=[0.72, 0.06, 0.22])
    product[f & (code == "C3391")] = "iron-castings"
    product[f & (code == "C3392")] = rng.choice(
        ["steel-castings", "aluminium-castings"], (f & (code == "C3392")).sum(), p=[0.93, 0.07])
    s = is_["stainless"]
    furnace[s] = rng.choice(["intermediate-frequency", "electric-arc"], s.sum(), p=[0.4, 0.6])
    furnace_size[s] = rng.choice([3, 5, 10, 20], s.sum())
    product[s] = "stainless-billet"
    for steel_code, kind, sizes, made in (
            ("C3110", "blast-furnace", [350, 450, 580, 1080, 1250, 2500], "pig-iron"),
            ("C3120", "converter", [30, 40, 60, 120, 150], "carbon-billet"),
            ("C3130", "none", [0], "steel-strip"),
            ("C3140", "electric-arc", [25, 45, 120], "ferroalloy")):
        m = is_["steel"] & (code == steel_code)
        furnace[m] = kind
        furnace_size[m] = rng.choice(sizes, m.sum())
        product[m] = made
    in_steel_scope = is_["steel"] | is_["stainless"]
    ule_unmet_items = rng.choice(4, n, p=[0.6, 0.2, 0.12, 0.08]).astype(float)
    ule_unmet_items[~in_steel_scope] = np.nan

    a = is_["aluminium"]
    ac_kwh = np.full(n, np.nan)
    renewable_kwh = np.full(n, np.nan)
    output_t[a] = np.round(rng.uniform(1e5, 5e5, a.sum()))
    ac_kwh[a] = np.rint(output_t[a] * rng.uniform(13250, 13900, a.sum()))
    electricity_kwh[a] = np.rint(ac_kwh[a] * rng.uniform(1.02, 1.08, a.sum()))
    renewable_kwh[a] = np.rint(electricity_kwh[a] * rng.uniform(0, 0.3, a.sum()))

    c = is_["cement"]
    kiln = np.full(n, None, dtype=object)
    special_cement = np.full(n, None, dtype=object)
    clinker_t = np.full(n, np.nan)
    clinker_kwh = np.full(n, np.nan)
    kiln[c] = rng.choice(["new-dry-process", "shaft", "dry-hollow", "none"], c.sum(),
                         p=[0.8, 0.04, 0.04, 0.12])
    special_cement[c] = rng.choice(["no", "yes"], c.sum(), p=[0.8, 0.2])
    clinker_t[c] = np.round(rng.lognormal(np.log(8e5), 0.5, c.sum()))
    clinker_kwh[c] = np.rint(clinker_t[c] * rng.normal(60, 4, c.sum()))

    land_mu = np.round(rng.lognormal(np.log(30), 0.8, n), 1)
    tax = np.round(land_mu * rng.lognormal(np.log(18), 0.9, n), 1)
    value_added = np.round(tax * rng.uniform(3, 6, n), 1)
    revenue = np.round(value_added * rng.uniform(3, 6, n), 1)
    rd = np.round(revenue * rng.uniform(0, 0.05, n), 1)
    emissions_t = np.round(rng.lognormal(np.log(5), 1.0, n), 2)
    employees = np.maximum(5, np.rint(value_added / rng.lognormal(np.log(25), 0.4, n)))

    frame = pd.DataFrame({
        "enterprise_id": enterprise_id, "name": name, "district": district,
        "industry_code": code, "year": year,
        "output_t": output_t, "energy_tce": energy_tce,
        "electricity_kwh": _whole(electricity_kwh), "furnace": furnace,
        "furnace_size": furnace_size, "product": product, "cupola": cupola,
        "ac_kwh": _whole(ac_kwh), "renewable_kwh": _whole(renewable_kwh), "kiln": kiln,
        "special_cement": special_cement, "clinker_t": _whole(clinker_t),
        "clinker_kwh": _whole(clinker_kwh), "ule_unmet_items": _whole(ule_unmet_items),
        "tax_10k_yuan": tax, "land_mu": land_mu, "value_added_10k_yuan": value_added,
        "emissions_t": emissions_t, "rd_10k_yuan": rd, "revenue_10k_yuan": revenue,
        "employees": _whole(employees),
    }, columns=REGISTER_COLUMNS)
    # a few registers are incomplete: missing values, never zeros (SPEC "Register")
    for column in ("energy_tce", "land_mu", "ac_kwh", "clinker_kwh", "furnace_size"):
        gaps = rng.random(n) < 0.01
        frame.loc[gaps, column] = pd.NA
    return frame


def _whole(values: np.ndarray) -> pd.Series:
    """Whole numbers print without a decimal point; NaN stays an empty cell."""
    return pd.Series(values).round().astype("Int64")


def _accounts(rng: np.random.Generator, register: pd.DataFrame) -> pd.DataFrame:
    """1–3 electricity accounts per enterprise, one water account for about 60% of them."""
    n = len(register)
    per_enterprise = rng.integers(1, 4, n)
    owner = np.repeat(np.arange(n), per_enterprise)
    monthly_kwh = register["electricity_kwh"].to_numpy(dtype=float, na_value=1.2e6) / 12
    electricity = pd.DataFrame({
        "utility": "electricity",
        "account_id": (3302000000 + np.arange(len(owner))).astype(str),
        "owner": owner,
        "mean_quantity": monthly_kwh[owner] / per_enterprise[owner]
        * rng.uniform(0.5, 1.5, len(owner)),
    })
    has_water = rng.random(n) < 0.6
    water_owner = np.flatnonzero(has_water)
    quota = np.maximum(50, np.rint(rng.lognormal(np.log(900), 0.8, len(water_owner))))
    water = pd.DataFrame({
        "utility": "water",
        "account_id": (5102000000 + np.arange(len(water_owner))).astype(str),
        "owner": water_owner,
        "mean_quantity": quota,
    })
    accounts = pd.concat([electricity, water], ignore_index=True)
    accounts["enterprise_id"] = register["enterprise_id"].to_numpy()[accounts["owner"]]
    return accounts


def _billing_month(rng: np.random.Generator, accounts: pd.DataFrame,
                   period: pd.Period) -> pd.DataFrame:
    is_water = (accounts["utility"] == "water").to_numpy()
    mean = accounts["mean_quantity"].to_numpy()
    noise = np.where(is_water, rng.uniform(0.6, 1.7, len(mean)), rng.lognormal(0, 0.15, len(mean)))
    quantity = np.maximum(1, np.rint(mean * noise)).astype(np.int64)
    production = np.floor(quantity * rng.uniform(0.8, 0.98, len(mean))).astype(np.int64)
    production_text = pd.Series(production.astype(str))
    production_text[is_water | (rng.random(len(mean)) < 0.1)] = ""
    lines = pd.DataFrame({
        "utility": accounts["utility"].to_numpy(),
        "account_id": accounts["account_id"].to_numpy(),
        "enterprise_id": accounts["enterprise_id"].to_numpy(),
        "period": period.strftime("%Y-%m"),
        "quantity": quantity.astype(str),
        "production_quantity": production_text.to_numpy(),
        "quota": np.where(is_water, np.rint(mean).astype(np.int64).astype(str), ""),
        "base_price": np.where(is_water, WATER_BASE_PRICE, ""),
    }, columns=BILLING_COLUMNS)
    return _plant_faults(rng, lines, quantity)


def _plant_faults(rng: np.random.Generator, lines: pd.DataFrame,
                  quantity: np.ndarray) -> pd.DataFrame:
    """A handful of each fault the extract reader must reject (SPEC "rejects.csv")."""
    per_kind = max(1, round(FAULT_SHARE * len(lines)))
    chosen = rng.choice(len(lines), size=min(len(lines), 5 * per_kind), replace=False)
    bad_id, bad_production, bad_number, bad_utility, duplicate = (
        chosen[k::5] for k in range(5))
    ids = lines["enterprise_id"].to_numpy(dtype=object)
    last = np.array([c[-1] for c in ids[bad_id]])
    wrong = np.array(list(CREDIT_ALPHABET))[
        (np.array([CREDIT_ALPHABET.index(c) for c in last]) + 1) % len(CREDIT_ALPHABET)]
    ids[bad_id] = [c[:-1] + w for c, w in zip(ids[bad_id], wrong, strict=True)]
    lines["enterprise_id"] = ids
    electricity = (lines["utility"] == "electricity").to_numpy()
    over = bad_production[electricity[bad_production]]
    lines.loc[over, "production_quantity"] = (quantity[over] + 1000).astype(str)
    lines.loc[bad_number, "quantity"] = np.char.add(quantity[bad_number].astype(str), "x")
    lines.loc[bad_utility, "utility"] = "gas"
    return pd.concat([lines, lines.iloc[duplicate]], ignore_index=True)


def _write_chinese(lines: pd.DataFrame, path: Path) -> None:
    """The GB18030, Chinese-header form some utilities send (SPEC "Billing extract")."""
    chinese = lines.copy()
    chinese["utility"] = chinese["utility"].replace({"electricity": "电", "water": "水"})
    chinese["period"] = chinese["period"].str.replace("-", "", regex=False)
    chinese.rename(columns=CHINESE_HEADERS).to_csv(path, index=False, lineterminator="\n",
                                                   encoding="gb18030")


def _overrides(register: pd.DataFrame, periods: pd.PeriodIndex) -> pd.DataFrame:
    """Two bureau decisions: a foundry's rectification accepted, a 亩均 appeal granted."""
    foundry = register.index[register["industry_code"].str.startswith("C339")]
    rows = []
    first = periods[0].strftime("%Y-%m")
    if len(foundry):
        rows.append([register.at[foundry[0], "enterprise_id"], "foundry", "permitted", first,
                     "", "甬发改价格〔2025〕3号", "整改验收通过 rectification accepted"])
    rows.append([register.at[register.index[-1], "enterprise_id"], "mu-efficiency", "B", first,
                 periods[-1].strftime("%Y-%m"), "甬经信〔2025〕7号",
                 "申诉复核调档 appeal granted, re-graded"])
    return pd.DataFrame(rows, columns=OVERRIDE_COLUMNS)
