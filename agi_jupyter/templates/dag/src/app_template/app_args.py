"""Arguments of this app: each field is a key of ``[args]`` in ``src/app_settings.toml``.

Types, bounds and descriptions here are what the Orchestrator's form shows and checks.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class AppTemplateArgs(BaseModel):
    """Which regions, how many days of sales, and where each step's result goes."""

    model_config = ConfigDict(extra="forbid")

    regions: list[str] = Field(
        ["north", "south", "east", "west"],
        min_length=1,
        max_length=100,
        description="Region names: one generate and clean branch of steps each",
    )
    days: int = Field(90, ge=1, le=36500, description="Days of sales per region")
    seed: int = Field(42, ge=0, description="Seed of the generated sales")
    data_out: str = Field(
        "app_template/steps",
        description="Folder for one result file per step",
    )
    output_format: Literal["parquet", "csv"] = Field("parquet", description="File format of the step results")

    @field_validator("regions")
    @classmethod
    def _region_names(cls, value: list[str]) -> list[str]:
        """Region names become step names and file names: keep them plain and unique."""
        for name in value:
            if not name.isidentifier():
                raise ValueError(f"region name {name!r} must be letters, digits and underscores")
        if len(set(value)) != len(value):
            raise ValueError("region names must be unique")
        return value
