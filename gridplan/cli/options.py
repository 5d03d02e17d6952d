"""CLI options shared by several commands."""

from __future__ import annotations

import click

POPULATION_FIELDS = [
    click.option("--unit-id", default="unit_id", show_default=True, help="Unit id field."),
    click.option("--households", "households_field", default=None,
                 help="Field with households per unit."),
    click.option("--population-field", default=None,
                 help="Field with residents per unit (households = residents ÷ household "
                      "size)."),
    click.option("--household-size", default=2.6, show_default=True,
                 help="Residents per household, with --population-field."),
]


def population_fields(f):
    """The options naming a population layer's fields (shared by plan and replan)."""
    for option in reversed(POPULATION_FIELDS):
        f = option(f)
    return f
