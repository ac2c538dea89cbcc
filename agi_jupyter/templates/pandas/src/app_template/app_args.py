"""Arguments of this app: each field is a key of ``[args]`` in ``src/app_settings.toml``.

Types, bounds and descriptions here are what the Orchestrator's form shows and checks.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class AppTemplateArgs(BaseModel):
    """Which CSV files to summarise, where the results go, and the sample files to write if none exist."""

    model_config = ConfigDict(extra="forbid")

    data_in: str = Field(
        "app_template/input",
        description="Folder of .csv input files, relative to the share dir",
    )
    data_out: str = Field(
        "app_template/output",
        description="Folder for one result file per input file",
    )
    files: int = Field(
        12, ge=1, le=10000, description="Number of sample files written into data_in when it holds none of yours"
    )
    rows: int = Field(2000, ge=10, le=10_000_000, description="About how many rows each sample file has")
    seed: int = Field(42, ge=0, description="Seed of the sample files")
    output_format: Literal["parquet", "csv"] = Field("parquet", description="File format of the results")
