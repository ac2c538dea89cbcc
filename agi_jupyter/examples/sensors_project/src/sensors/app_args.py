"""Arguments of the sensors app."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class SensorsArgs(BaseModel):
    """Which stations, how many days of hourly readings, and the anomaly threshold."""

    model_config = ConfigDict(extra="forbid")

    stations: list[str] = Field(
        ["north", "south", "east", "west"],
        min_length=1,
        max_length=64,
        description="Station names: one ingest and clean branch each",
    )
    days: int = Field(60, ge=2, le=3650, description="Days of hourly readings per station")
    seed: int = Field(7, ge=0, description="Seed of the reading generator")
    z_threshold: float = Field(3.5, gt=0, le=20, description="Anomaly threshold in standard deviations")
    data_out: str = Field("sensors/steps", description="Folder for one output file per step")
    output_format: Literal["parquet", "csv"] = Field("parquet", description="File format of step outputs")

    @field_validator("stations")
    @classmethod
    def _names(cls, value: list[str]) -> list[str]:
        for name in value:
            if not name.isidentifier():
                raise ValueError(f"station name {name!r} must be letters, digits and underscores")
        if len(set(value)) != len(value):
            raise ValueError("station names must be unique")
        return value
