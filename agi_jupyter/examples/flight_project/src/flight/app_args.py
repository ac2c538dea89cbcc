"""Arguments of the flight app."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FlightArgs(BaseModel):
    """What to summarise, and where the generated logs and the summaries go."""

    model_config = ConfigDict(extra="forbid")

    data_in: str = Field("flight/dataset", description="Folder of flight logs (CSV), relative to the share dir")
    data_out: str = Field("flight/summary", description="Folder for the per-chunk summaries")
    flights: int = Field(48, ge=1, le=5000, description="Number of flight logs to generate")
    seed: int = Field(2026, ge=0, description="Seed of the log generator")
    output_format: Literal["parquet", "csv"] = Field("parquet", description="File format of the summaries")
    min_speed_kt: float = Field(30.0, ge=0, le=200, description="Samples below this speed count as taxiing")
