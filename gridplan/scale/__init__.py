"""Province scale: partitioned input planned community by community, in process or on Dask.

Three stages, each a map over independent pieces of work, so that no process ever
holds the whole province:

1. **prepare** (one task per input partition, :mod:`.partitions`): read the partition,
   normalise its units, reproject them, place them in communities, split oversized buildings
   into stairwells, tag compounds, and write each community's units as a shard
   ``WORK/units/<community>/p<partition>.pkl`` (:mod:`.shards`).
2. **plan** (one task per community, :mod:`.plans`): read the community's shards, call
   :func:`gridplan.engine.community.plan_community` (the same function the in-process
   :func:`gridplan.engine.pipeline.plan` calls), check the rules and write
   ``WORK/plans/<community>.pkl`` (grids, units, community, parcels), then its
   done-marker ``<community>.json``, each renamed into place when complete.
3. **merge** (the driver, :mod:`.merge`): append the communities' results in batches to
   ``grids.geojson``, ``units.csv`` and ``plan.gpkg`` in a temporary folder, write
   ``report.json`` and move the files into the output folder.

The tasks run in this process or on a Dask cluster (:mod:`.cluster`);
:func:`plan_partitioned` (:mod:`.driver`) runs the stages. Each finished partition and
community leaves a marker, so a re-run with the same inputs and parameters skips them
(resume). A task that fails is retried (``retries``); communities that still fail are named
in a :class:`PartialPlanError`, and the others stay written for the next run.
"""

from gridplan.scale.cluster import dask_client
from gridplan.scale.driver import Outcome, PartialPlanError, plan_partitioned
from gridplan.scale.partitions import UnitOptions

__all__ = ["Outcome", "PartialPlanError", "UnitOptions", "dask_client", "plan_partitioned"]
