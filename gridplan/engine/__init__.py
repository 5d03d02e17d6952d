"""The planning engine, one module per stage.

units → adjacency → partition → refine → grids → parcels → metrics (rules and report),
orchestrated by :func:`gridplan.engine.pipeline.plan`; ``region`` and ``community`` plan one
community, ``dedicated`` carves dedicated grids first, ``explain`` says why a grid misses the band.
"""
