"""Province scale: partitioned input planned community by community, in process or on Dask."""
