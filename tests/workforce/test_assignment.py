"""Assignment of workers to grids: optimal against a min-cost flow, covering, within capacity."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from gridplan.workforce.staffing import SLOT_PENALTY, UNASSIGNED, UNASSIGNED_COST, assign_workers

# small random instances, the same on every run
BOUNDED = settings(max_examples=80, deadline=None, derandomize=True, database=None)


@st.composite
def instances(draw):
    """1–3 communities of 1–10 grids and 0–4 workers; homes and grids on a square of 0.5–12 km,
    capacities from none to many grids, some workers sharing a home."""
    grids, workers, xy, homes = [], [], {}, {}
    side = draw(st.sampled_from([500, 3000, 12000]))  # metres: distance or balance may rule
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))  # spread-out points

    def point():
        return rng.integers(0, side, 2).astype(float)

    for c in range(draw(st.integers(1, 3))):
        for g in range(draw(st.integers(1, 10))):
            code = f"C{c}G{g}"
            grids.append((code, f"C{c}", 300, draw(st.sampled_from([10.0, 25.0, 40.0, 70.0]))))
            xy[code] = point()
        for w in range(draw(st.integers(0, 4))):
            wid = f"C{c}W{w}"
            workers.append((wid, wid, f"C{c}", draw(st.sampled_from([0, 30, 80, 160, 1000]))))
            homes[wid] = homes[f"C{c}W0"] if w and draw(st.booleans()) else point()
    loads = pd.DataFrame(grids, columns=["grid_code", "community_id", "households",
                                         "workload_hours"])
    staff = pd.DataFrame(workers, columns=["worker_id", "name", "community_id",
                                           "capacity_hours"])
    return loads, staff, xy, homes


def slots(loads: pd.DataFrame, workers: pd.DataFrame) -> dict[str, int]:
    """Grids each worker may hold: capacity ÷ the community's mean grid load."""
    mean_h = loads.groupby("community_id")["workload_hours"].mean()
    size = loads.groupby("community_id").size()
    return {w.worker_id: int(min(size.get(w.community_id, 0),
                                 w.capacity_hours // max(mean_h.get(w.community_id, 1), 1e-9)))
            for w in workers.itertuples(index=False)}


def cost(grids: pd.DataFrame, xy, homes) -> int:
    """Cost of an assignment in the model: whole metres, SLOT_PENALTY × j², 10⁹ per open grid."""
    held = grids[grids["worker_id"] != UNASSIGNED]
    metres = sum(int(float(np.hypot(*(xy[g] - homes[w]))))
                 for g, w in zip(held["grid_code"], held["worker_id"], strict=True))
    k = held.groupby("worker_id").size()
    return (metres + sum(SLOT_PENALTY * j * j for n in k for j in range(1, n + 1))
            + UNASSIGNED_COST * int((grids["worker_id"] == UNASSIGNED).sum()))


def flow_cost(loads, workers, xy, homes) -> int:
    """Optimal cost of the same model by networkx min-cost flow: slot j of a worker is an
    arc of cost SLOT_PENALTY × j², each grid may instead stay open at 10⁹."""
    g = nx.DiGraph()
    g.add_node("S", demand=-len(loads))
    for row in loads.itertuples(index=False):
        g.add_node(("g", row.grid_code), demand=1)
        g.add_edge(("u", row.community_id), ("g", row.grid_code), capacity=1,
                   weight=UNASSIGNED_COST)
        g.add_edge("S", ("u", row.community_id), capacity=len(loads), weight=0)
    can = slots(loads, workers)
    for w in workers.itertuples(index=False):
        for j in range(1, can[w.worker_id] + 1):
            g.add_edge("S", ("s", w.worker_id, j), capacity=1, weight=SLOT_PENALTY * j * j)
            g.add_edge(("s", w.worker_id, j), ("w", w.worker_id), capacity=1, weight=0)
        for row in loads[loads["community_id"] == w.community_id].itertuples(index=False):
            d = float(np.hypot(*(xy[row.grid_code] - homes[w.worker_id])))
            g.add_edge(("w", w.worker_id), ("g", row.grid_code), capacity=1, weight=int(d))
    return nx.cost_of_flow(g, nx.min_cost_flow(g))


@BOUNDED
@given(instances())
def test_cost_equals_min_cost_flow(inst):
    loads, workers, xy, homes = inst
    a = assign_workers(loads, workers, xy, homes)
    assert cost(a.grids, xy, homes) == flow_cost(loads, workers, xy, homes)


@BOUNDED
@given(instances())
def test_capacities_and_communities_respected(inst):
    loads, workers, xy, homes = inst
    a = assign_workers(loads, workers, xy, homes)
    assert a.grids["grid_code"].tolist() == loads["grid_code"].tolist()
    held = a.grids[a.grids["worker_id"] != UNASSIGNED].merge(loads, on="grid_code")
    home_comm = workers.set_index("worker_id")["community_id"]
    assert (held["community_id"] == held["worker_id"].map(home_comm)).all()
    can = slots(loads, workers)
    for wid, n in held.groupby("worker_id").size().items():
        assert n <= can[wid]
    per = a.workers.set_index("worker_id")
    assert per["grids"].sum() == len(held)
    open_grids = loads[a.grids["worker_id"].to_numpy() == UNASSIGNED]
    assert a.missing == {k: int(v) for k, v in open_grids.groupby("community_id").size().items()}


@BOUNDED
@given(instances())
def test_every_grid_covered_when_enough_workers(inst):
    loads, workers, xy, homes = inst
    # one full-time worker more than grids in every community, each able to hold a grid
    extra = [(f"{c}X{i}", "x", c, 1000) for c, n in loads.groupby("community_id").size().items()
             for i in range(n + 1)]
    crew = pd.concat([workers, pd.DataFrame(extra, columns=workers.columns)], ignore_index=True)
    homes = {**homes, **{w[0]: np.array([1000.0, 1000.0]) for w in extra}}
    a = assign_workers(loads, crew, xy, homes)
    assert (a.grids["worker_id"] != UNASSIGNED).all()
    assert a.missing == {}


def test_workers_without_grids_in_their_community_are_listed_idle():
    loads = pd.DataFrame([("G1", "A", 300, 20.0)],
                         columns=["grid_code", "community_id", "households", "workload_hours"])
    workers = pd.DataFrame([("a", "a", "A", 160), ("b", "b", "B", 160)],
                           columns=["worker_id", "name", "community_id", "capacity_hours"])
    homes = {"a": np.array([0.0, 0.0]), "b": np.array([0.0, 0.0])}
    a = assign_workers(loads, workers, {"G1": np.array([5.0, 0.0])}, homes)
    assert a.grids["worker_id"].tolist() == ["a"]
    assert a.workers.set_index("worker_id").loc["b", "grids"] == 0


def test_fourth_grid_goes_to_a_far_worker_as_the_flow_decides():
    """The j-th grid costs SLOT_PENALTY × j²: a worker 20 km away is worth it for the 4th
    grid (2000 × 16 > 20 000 + 2000) but not the 3rd (2000 × 9 < 20 000 + 2000); a penalty
    linear in j would leave all four to the near worker."""
    loads = pd.DataFrame([(f"G{i}", "A", 300, 10.0) for i in range(4)],
                         columns=["grid_code", "community_id", "households", "workload_hours"])
    workers = pd.DataFrame([("near", "n", "A", 160), ("far", "f", "A", 160)],
                           columns=["worker_id", "name", "community_id", "capacity_hours"])
    xy = {f"G{i}": np.array([0.0, 0.0]) for i in range(4)}
    homes = {"near": np.array([0.0, 0.0]), "far": np.array([20_000.0, 0.0])}
    a = assign_workers(loads, workers, xy, homes)
    assert a.grids["worker_id"].value_counts().to_dict() == {"near": 3, "far": 1}
    assert cost(a.grids, xy, homes) == flow_cost(loads, workers, xy, homes) == 20_000 + 30_000
