"""Price on a dask.distributed cluster: the same pure function, one partition per task.

``--cluster local:N`` starts a local cluster of N worker processes; ``--cluster
tcp://host:port`` uses an existing scheduler. The classification and the metrics are computed
once and broadcast to every worker; each task prices a contiguous slice of the billing lines
with :func:`pricing.billing.price.price_lines`, which is row-local, so concatenating the slices
in order gives exactly the single-process result (and byte-identical outputs).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from pricing.billing.components import InForce
from pricing.billing.price import Priced, price_lines, pricing_facts
from pricing.errors import DiffpriceError

ROWS_PER_PARTITION = 250_000


class ClusterError(DiffpriceError):
    """The cluster could not be reached or started."""


def parse_cluster(spec: str) -> tuple[str, int | str]:
    """``local:N`` → ("local", N); ``tcp://host:port`` → ("address", spec)."""
    if spec.startswith("local:"):
        count = spec.removeprefix("local:")
        if not count.isdigit() or int(count) < 1:
            raise ClusterError(f"--cluster {spec}: expected local:N with N ≥ 1 workers")
        return "local", int(count)
    if spec.startswith(("tcp://", "tls://")):
        return "address", spec
    raise ClusterError(f"--cluster {spec}: expected local:N or tcp://host:port")


def _price_slice(lines: pd.DataFrame, offset: int, classification: pd.DataFrame,
                 facts: dict[str, pd.DataFrame], components: list[InForce]) -> Priced:
    priced = price_lines(lines, classification, facts, components)
    priced.surcharges["row"] += offset
    priced.faults["row"] += offset
    return priced


PRICING_COLUMNS = ["utility", "enterprise_id", "quantity_milli", "production_milli",
                   "quota_milli", "base_price_micro"]
VERDICT_COLUMNS = ["enterprise_id", "rulebook", "class", "rule_id", "decided_by"]


def _connect(kind: str, value: int | str, spec: str) -> tuple[Any, Any]:
    """A client (and the LocalCluster it owns, if any); ClusterError if none can be had."""
    from dask.distributed import Client, LocalCluster

    cluster = None
    try:
        if kind == "local":
            cluster = LocalCluster(n_workers=int(value), threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=logging.CRITICAL)
            return Client(cluster), cluster
        return Client(str(value), timeout="10s"), None
    except (OSError, TimeoutError) as exc:
        if cluster is not None:
            cluster.close()
        raise ClusterError(f"--cluster {spec}: cannot reach the cluster ({exc})") from None


def price_on_cluster(spec: str, lines: pd.DataFrame, classification: pd.DataFrame,
                     facts: dict[str, pd.DataFrame], components: list[InForce]) -> Priced:
    """Price ``lines`` on the cluster named by ``spec``; same result as ``price_lines``."""
    with ClusterPricer(spec, classification, facts, components) as pricer:
        return pricer.price(lines)


class ClusterPricer:
    """A connection to the cluster with the verdicts already on every worker: a streamed run
    prices all its pieces through one, instead of starting a cluster per piece.

    Only what pricing reads travels: the six priced columns of each slice, the verdict
    columns of the classification (not the evidence), the facts stepped components read.
    """

    def __init__(self, spec: str, classification: pd.DataFrame,
                 facts: dict[str, pd.DataFrame], components: list[InForce]) -> None:
        self.spec = spec
        self.classification = classification[VERDICT_COLUMNS]
        self.facts = pricing_facts(facts, components)
        self.components = components
        self._client: Any = None
        self._cluster: Any = None
        self._shared: Any = None

    def __enter__(self) -> ClusterPricer:
        kind, value = parse_cluster(self.spec)
        with _quiet():
            self._client, self._cluster = _connect(kind, value, self.spec)
            try:
                self._shared = self._client.scatter(
                    [self.classification, self.facts, self.components], broadcast=True)
            except Exception as exc:  # noqa: BLE001 - a remote failure becomes one message
                self.__exit__(None, None, None)
                raise self._failed(exc) from None
        return self

    def __exit__(self, *_: object) -> None:
        with _quiet():
            if self._client is not None:
                self._client.close()
            if self._cluster is not None:
                self._cluster.close()
        self._client = self._cluster = None

    def _failed(self, exc: Exception) -> ClusterError:
        return ClusterError(f"--cluster {self.spec}: pricing failed on the cluster "
                            f"({type(exc).__name__}: {exc}); is the same diffprice version "
                            "installed on every worker?")

    def price(self, lines: pd.DataFrame) -> Priced:
        lines = lines[PRICING_COLUMNS].reset_index(drop=True)
        if lines.empty:
            return price_lines(lines, self.classification, self.facts, self.components)
        with _quiet():
            try:
                results = _run(self._client, lines, self._shared)
            except ClusterError:
                raise
            except Exception as exc:  # noqa: BLE001 - a remote failure becomes one message
                raise self._failed(exc) from None
        return Priced(pd.concat([r.surcharges for r in results], ignore_index=True),
                      pd.concat([r.faults for r in results], ignore_index=True))


def _run(client: Any, lines: pd.DataFrame, shared: list[Any]) -> list[Priced]:
    """One task per contiguous slice, at least one per worker; results in slice order."""
    workers = max(1, len(client.scheduler_info().get("workers", {})))
    parts = max(workers, -(-len(lines) // ROWS_PER_PARTITION))
    bounds = np.linspace(0, len(lines), parts + 1).astype(int)
    futures = [client.submit(_price_slice, lines.iloc[a:b].reset_index(drop=True), int(a),
                             *shared, pure=False)
               for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
    return client.gather(futures)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Dask's own log lines and warnings are not for the bureau's operator: errors reach
    them as one ClusterError message instead."""
    loggers = [logging.getLogger(name) for name in ("distributed", "tornado", "asyncio")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
