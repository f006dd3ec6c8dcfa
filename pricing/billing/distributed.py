"""Price on a dask.distributed cluster: the same pure function, one partition per task.

``--cluster local:N`` starts a local cluster of N worker processes; ``--cluster
tcp://host:port`` uses an existing scheduler. The classification and the metrics are computed
once and broadcast to every worker; each task prices a contiguous slice of the billing lines
with :func:`pricing.billing.price.price_lines`, which is row-local, so concatenating the slices
in order gives exactly the single-process result (and byte-identical outputs).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from pricing.billing.components import InForce
from pricing.billing.price import Priced, price_lines
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


def price_on_cluster(spec: str, lines: pd.DataFrame, classification: pd.DataFrame,
                     facts: dict[str, pd.DataFrame], components: list[InForce]) -> Priced:
    """Price ``lines`` on the cluster named by ``spec``; same result as ``price_lines``."""
    from dask.distributed import Client, LocalCluster

    kind, value = parse_cluster(spec)
    cluster = None
    try:
        if kind == "local":
            cluster = LocalCluster(n_workers=int(value), threads_per_worker=1, processes=True,
                                   dashboard_address=None)
            client = Client(cluster)
        else:
            client = Client(str(value), timeout="10s")
    except OSError as exc:
        raise ClusterError(f"--cluster {spec}: cannot reach the cluster ({exc})") from exc
    try:
        workers = max(1, len(client.scheduler_info().get("workers", {})))
        parts = max(workers, -(-len(lines) // ROWS_PER_PARTITION))
        bounds = np.linspace(0, len(lines), parts + 1).astype(int)
        shared = client.scatter([classification, facts, components], broadcast=True)
        futures = [client.submit(_price_slice, lines.iloc[a:b].reset_index(drop=True), int(a),
                                 *shared, pure=False)
                   for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]
        results = client.gather(futures)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    if not results:
        return price_lines(lines, classification, facts, components)
    return Priced(pd.concat([r.surcharges for r in results], ignore_index=True),
                  pd.concat([r.faults for r in results], ignore_index=True))
