"""Planning practice over the engine: editing, micro-grids, 多网合一 merge, re-plans."""
