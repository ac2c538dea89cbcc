"""Arguments of this app: each field is a key of ``[args]`` in ``src/app_settings.toml``.

Types, bounds and descriptions here are what the Orchestrator's form shows and checks.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class AppTemplateArgs(BaseModel):
    """How far to count primes, how the range is cut into chunks and items, and where results go."""

    model_config = ConfigDict(extra="forbid")

    limit: int = Field(1_000_000, ge=10, le=10**12, description="Count the primes below this number")
    blocks: int = Field(16, ge=1, le=100_000, description="Chunks of the plan: equal ranges of numbers")
    parts: int = Field(4, ge=1, le=1000, description="Work items per block (what a pool spreads out)")
    data_out: str = Field(
        "app_template/primes",
        description="Folder for one result file per block",
    )
    output_format: Literal["parquet", "csv"] = Field("parquet", description="File format of the results")

    @model_validator(mode="after")
    def _enough_numbers(self) -> "AppTemplateArgs":
        """Every work item needs at least one number."""
        if self.blocks * self.parts > self.limit:
            raise ValueError(f"blocks x parts ({self.blocks * self.parts}) cannot exceed limit ({self.limit})")
        return self
