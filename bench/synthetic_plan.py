"""Synthetic plan: a planned synthetic city written as a plan folder, for map and editor benches."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from bench.synthetic import synthetic_city

log = logging.getLogger(__name__)


def write_synthetic_plan(n_units: int, out: str | Path, seed: int = 0) -> Path:
    """Plan a synthetic city of ``n_units`` units and write it as a plan folder.

    About 12 000 units give about 1 000 grids (25 households per unit on average).

    Examples
    --------
    >>> write_synthetic_plan(1000, "/tmp/plan1k")  # doctest: +SKIP
    PosixPath('/tmp/plan1k')
    """
    from gridplan.engine.pipeline import plan
    from gridplan.export.folder import write_plan
    from gridplan.layers.population import prepare_units
    from gridplan.layers.prepare import prepare_communities
    from gridplan.params import PlanParams

    raw_units, raw_comm = synthetic_city(n_units, seed=seed)
    units = prepare_units(raw_units, unit_id="unit_id", households="households")
    communities = prepare_communities(raw_comm, id_field="id")
    t0 = time.perf_counter()
    result = plan(units, communities, params=PlanParams(seed=seed, tessellation="centroid"))
    log.info("planned %d grids in %.1f s", len(result.grids), time.perf_counter() - t0)
    write_plan(result, out)
    return Path(out)


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.synthetic_plan --units 12000 --out /tmp/plan1000``."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--units", type=int, default=12_000)
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_synthetic_plan(args.units, args.out, args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
