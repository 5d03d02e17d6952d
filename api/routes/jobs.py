"""Jobs: start a plan in the background, poll its progress, cancel it."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from gridplan.api.deps import get_store, reader, writer
from gridplan.api.errors import HTTPProblem
from gridplan.api.jobs import SERVICE
from gridplan.api.store import NotFound, Store
from pydantic import BaseModel, ConfigDict, Field, create_model

from gridplan.params import BOUNDS, ParamError, param_fields, params_from

router = APIRouter(prefix="/jobs", tags=["jobs"])

LayerId = Annotated[str, Field(max_length=64, pattern=r"^[0-9a-f]{6,64}$")]
MAX_LIST = 200  # items of a list-valued parameter
MAX_TEXT = 100  # characters of a text parameter or list item


class InputOptions(BaseModel):
    """How to read the job's layers: the ``gridplan plan`` options that are not parameters."""

    model_config = ConfigDict(extra="forbid")
    community_id: Annotated[str, Field(max_length=100)] = "id"
    community_code: Annotated[str | None, Field(max_length=100)] = None
    unit_id: Annotated[str, Field(max_length=100)] = "unit_id"
    households_field: Annotated[str | None, Field(max_length=100)] = None
    population_field: Annotated[str | None, Field(max_length=100)] = None
    household_size: Annotated[float, Field(gt=0, le=20)] = 2.6
    dwelling_area: Annotated[float, Field(gt=0, le=10000)] = 90.0
    crs: Annotated[str | None, Field(max_length=60)] = None


def _param_field(f) -> tuple[Any, Any]:
    """A pydantic field for a PlanParams field, from its metadata (bounds, choices, help)."""
    meta = f.metadata
    info = {"description": meta["help"],  # OpenAPI extensions for forms and CLI users
            "json_schema_extra": {"x-label-zh": meta["label_zh"], "x-cli": meta["cli"]}}
    if "list_sep" in meta:
        item = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
        return list[item], Field(list(f.default), max_length=MAX_LIST, **info)
    checks = {k: meta[k] for k in BOUNDS if k in meta}
    if "choices" in meta:
        kind = Literal[meta["choices"]]
    elif isinstance(f.default, str):
        kind, checks = str, {"max_length": MAX_TEXT, "pattern": meta.get("pattern")}
    elif isinstance(f.default, float):
        kind, checks = float, {**checks, "allow_inf_nan": False}
    else:
        kind = int
    return kind, Field(f.default, **checks, **info)


PlanOptions = create_model(
    "PlanOptions", __base__=InputOptions,
    __doc__="The options of ``gridplan plan`` (see ``gridplan plan --help``): every plan "
            "parameter, and how to read the layers; paths come as layers.",
    **{name: _param_field(f) for name, f in param_fields().items()})


class Layers(BaseModel):
    """Ids of uploaded layers (POST /layers) to plan from."""

    model_config = ConfigDict(extra="forbid")
    communities: LayerId | None = None
    population: LayerId | None = None
    osm: LayerId | None = None
    compounds: LayerId | None = None
    barriers: LayerId | None = None
    special: LayerId | None = None
    dedicated: LayerId | None = None


class JobRequest(BaseModel):
    """A plan to make: from uploaded layers, or the bundled demo district."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=200)] = "plan"
    demo: bool = Field(False, description="Plan the bundled demo district")
    layers: Layers = Layers()
    params: PlanOptions = PlanOptions()


RETRY_AFTER = 30  # seconds a refused job waits before asking again


def check_layers(body: JobRequest, store: Store) -> None:
    """422 unless the job's layers exist, are of the kind their slot needs, and include
    a population (or OSM) layer; a demo job needs none."""
    for slot, layer_id in body.layers.model_dump().items():
        if not layer_id:
            continue
        try:
            row = store.get_row("layers", layer_id)
        except NotFound:
            raise HTTPProblem(422, f"there is no uploaded layer {layer_id!r}",
                              "upload it with POST /layers, or list layers with GET /layers",
                              field=f"layers.{slot}") from None
        if row["kind"] != slot:
            raise HTTPProblem(422, f"layer {layer_id} is a {row['kind']} layer, not {slot}",
                              f"pass it as layers.{row['kind']}, or upload the {slot} layer "
                              f"with POST /layers (kind={slot})", field=f"layers.{slot}")
    if not body.demo and not body.layers.population and not body.layers.osm:
        raise HTTPProblem(422, "the job has no population layer",
                          "upload buildings, points or blocks with POST /layers "
                          "(kind=population) and pass its id as layers.population, or pass "
                          "an OSM extract as layers.osm, or set demo: true",
                          field="layers.population")


def _public(row: dict) -> dict:
    out = {k: (str(v) if k in ("created", "updated") else v) for k, v in row.items()}
    if isinstance(out.get("params"), dict):
        out["params"] = {k: v for k, v in out["params"].items() if k != SERVICE}
    return out


@router.post("", status_code=202, summary="Start a plan job")
def start(body: JobRequest, request: Request, response: Response,
          author: str = Depends(writer), store: Store = Depends(get_store)) -> dict:
    """Plan in the background; poll ``GET /jobs/{id}`` for status, stage and percent.

    Refused before it starts: 422 when no population (or OSM) layer is given, a layer id
    is unknown or names a layer of another kind; 429 while ``GRIDPLAN_MAX_JOBS`` jobs are
    running or queued.
    """
    check_layers(body, store)
    spec = body.model_dump()
    spec["params"] = body.params.model_dump(exclude_unset=True)
    try:
        params_from(spec["params"])  # the checks a job would fail on, answered now
    except ParamError as exc:
        raise exc.spelled(f"params.{exc.field}") from None
    row = request.app.state.jobs.submit(spec, author)
    if row is None:
        limit = request.app.state.jobs.max_jobs
        raise HTTPProblem(429, f"the service is busy: {limit} plan jobs are running or queued",
                          f"try again in {RETRY_AFTER} seconds, or cancel a job "
                          "(POST /jobs/{id}/cancel)", headers={"Retry-After": str(RETRY_AFTER)})
    response.headers["Location"] = f"/jobs/{row['id']}"
    return _public(row)


@router.get("", summary="List jobs", dependencies=[Depends(reader)])
def list_jobs(store: Store = Depends(get_store)) -> list[dict]:
    """Every job, newest first."""
    return [_public(r) for r in store.list_rows("jobs")]


@router.get("/{job_id}", summary="A job's status", dependencies=[Depends(reader)])
def status(job_id: str, store: Store = Depends(get_store)) -> dict:
    """Status (queued, running, done, failed, cancelled), stage, percent, plan id or error."""
    return _public(store.get_row("jobs", job_id))


@router.post("/{job_id}/cancel", summary="Cancel a job", dependencies=[Depends(writer)])
def cancel(job_id: str, request: Request) -> dict:
    """Stop a queued or running job; nothing of it is stored."""
    return _public(request.app.state.jobs.cancel(job_id))
