"""`diffprice run --cluster`: a dask run writes the same bytes as a single-process run.

Run through the installed command, as a bureau would, so the worker processes have to import
``pricing`` on their own and anything dask prints would show on stderr.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pricing.sample import write_sample

pytest.importorskip("dask.distributed")

DIFFPRICE = Path(sys.executable).with_name("diffprice")
OUTPUTS = ("surcharges.csv", "classification.csv", "rejects.csv", "summary.csv")


def _run(sample: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(DIFFPRICE), "run", "--period", "2025-01", "--register", str(sample / "register.csv"),
         "--billing", str(sample / "billing-2025-01.csv"), "--overrides",
         str(sample / "overrides.csv"), "--out", str(out), *extra],
        capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample")
    write_sample(root, enterprises=400, months=1, seed=11)
    return root


def test_local_cluster_outputs_are_byte_identical(sample: Path, tmp_path: Path) -> None:
    single = _run(sample, tmp_path / "single")
    cluster = _run(sample, tmp_path / "cluster", "--cluster", "local:2")
    assert single.returncode == 0, single.stderr
    assert cluster.returncode == 0, cluster.stderr
    assert cluster.stderr == ""  # no dask log lines, warnings or tracebacks
    for name in OUTPUTS:
        assert (tmp_path / "cluster" / name).read_bytes() == \
            (tmp_path / "single" / name).read_bytes(), name


def test_streamed_cluster_run_is_byte_identical(sample: Path, tmp_path: Path) -> None:
    """Pieces priced through one cluster connection give the single-process bytes."""
    single = _run(sample, tmp_path / "single")
    streamed = _run(sample, tmp_path / "streamed", "--cluster", "local:2", "--chunk-lines",
                    "300")
    assert single.returncode == 0, single.stderr
    assert streamed.returncode == 0, streamed.stderr
    for name in (*OUTPUTS, "manifest.json"):
        assert (tmp_path / "streamed" / name).read_bytes() == \
            (tmp_path / "single" / name).read_bytes(), name


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("spec", ["local:0", "ftp://nowhere", "tcp://127.0.0.1:{port}"])
def test_cluster_errors_are_one_message_and_exit_1(sample: Path, tmp_path: Path,
                                                   spec: str) -> None:
    result = _run(sample, tmp_path / "out", "--cluster", spec.format(port=_closed_port()))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("--cluster ")
    assert not (tmp_path / "out").exists()
