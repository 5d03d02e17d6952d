"""Province scale: partitioned input planned community by community, in process or on Dask.

Three stages, each a map over independent pieces of work, so that no process ever
holds the whole province:

1. **prepare** (one task per input partition, :mod:`.partitions`): read the partition,
   normalise its units, reproject them, place them in communities, split oversized buildings
   into stairwells, tag compounds, and write the partition's units as one GeoParquet shard
   ``WORK/units/p<partition>.parquet`` sorted by community (:mod:`.shards`).
2. **plan** (one task per batch of consecutive communities, :mod:`.plans`): read the
   batch's rows from the shards, call :func:`gridplan.engine.community.plan_community`
   (the same function the in-process :func:`gridplan.engine.pipeline.plan` calls) on each
   community, join and check the batch's plan as ``plan()`` does and write
   ``WORK/plans/<batch>.pkl`` (grids, units, communities, parcels), then its done-marker
   ``<batch>.json`` naming each planned community and its rows, each renamed into place
   when complete.
3. **merge** (the driver, :mod:`.merge`): append the batches' results in the communities'
   order to ``grids.geojson``, ``units.csv`` and ``plan.gpkg`` in a temporary folder, write
   ``report.json`` and move the files into the output folder.

The tasks run in this process or on a Dask cluster (:mod:`.cluster`);
:func:`plan_partitioned` (:mod:`.driver`) runs the stages. Each finished partition and
batch leaves a marker, so a re-run with the same inputs and parameters skips what they
hold (resume). A task or a community that fails is retried (``retries``); communities
that still fail are named in a :class:`PartialPlanError`, and the others stay written for
the next run, which plans only the failed ones.
"""

from gridplan.scale.cluster import dask_client
from gridplan.scale.driver import Outcome, PartialPlanError, plan_partitioned
from gridplan.scale.partitions import UnitOptions

__all__ = ["Outcome", "PartialPlanError", "UnitOptions", "dask_client", "plan_partitioned"]
