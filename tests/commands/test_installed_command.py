"""The installed ``diffprice`` command leaves with the exit codes of SPEC "Commands".

It ends the process itself once the outputs are written (``cli.entry``), so what it prints
and the status it returns are checked through a real process, as a bureau's scheduler sees
them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

GOLDEN = Path(__file__).parents[1] / "e2e" / "golden"
DIFFPRICE = Path(sys.executable).with_name("diffprice")


def _diffprice(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(DIFFPRICE), *args], capture_output=True, text=True,
                          timeout=120, check=False)


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return _diffprice("run", "--period", "2025-03", "--register", str(GOLDEN / "register.csv"),
                      "--billing", str(GOLDEN / "billing.csv"), "--overrides",
                      str(GOLDEN / "overrides.csv"), "--rules", str(GOLDEN / "rules"),
                      "--tariffs", str(GOLDEN / "tariffs"), "--out", str(out), *extra)


def test_a_run_prints_everything_and_exits_0(tmp_path: Path) -> None:
    result = _run(tmp_path / "run", "--max-reject-rate", "1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == f"outputs in {tmp_path / 'run'}"
    assert "electricity 191244.44 yuan, water 784.57 yuan" in result.stdout
    written = sorted(path.name for path in (tmp_path / "run").iterdir())
    assert written == ["classification.csv", "manifest.json", "rejects.csv", "summary.csv",
                       "surcharges.csv"]


def test_too_many_rejects_exit_3(tmp_path: Path) -> None:
    result = _run(tmp_path / "run")  # 11 of 24 lines rejected, above the default 5%
    assert result.returncode == 3
    assert "--max-reject-rate" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_input_exits_1_and_a_bad_option_2(tmp_path: Path) -> None:
    missing_rules = tmp_path / "rules"
    missing_rules.mkdir()
    (missing_rules / "bad.yaml").write_text("id: [unclosed\n", encoding="utf-8")
    assert _diffprice("validate", str(missing_rules)).returncode == 1
    usage = _run(tmp_path / "run", "--period", "2025-13")
    assert usage.returncode == 2 and "--period" in usage.stderr


def test_help_and_version_exit_0() -> None:
    assert _diffprice("--help").returncode == 0
    version = _diffprice("--version")
    assert version.returncode == 0 and version.stdout.startswith("diffprice, version ")
