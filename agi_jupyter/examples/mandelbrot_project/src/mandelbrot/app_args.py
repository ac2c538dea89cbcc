"""Arguments of the mandelbrot app."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class MandelbrotArgs(BaseModel):
    """The image window, its resolution and how it is cut into bands of rows."""

    model_config = ConfigDict(extra="forbid")

    width: int = Field(480, ge=8, le=20000, description="Pixels per row")
    height: int = Field(320, ge=8, le=20000, description="Number of rows")
    bands: int = Field(32, ge=1, le=10000, description="Bands of rows: the chunks of the plan")
    max_iter: int = Field(256, ge=1, le=100000, description="Escape-time iteration limit")
    x_min: float = Field(-2.2, description="Left edge (real axis)")
    x_max: float = Field(0.8, description="Right edge (real axis)")
    y_min: float = Field(-1.2, description="Bottom edge (imaginary axis)")
    y_max: float = Field(1.2, description="Top edge (imaginary axis)")
    data_out: str = Field("mandelbrot/rows", description="Folder for per-band statistics")
    output_format: Literal["parquet", "csv"] = Field("parquet", description="File format of the results")

    @model_validator(mode="after")
    def _window(self) -> "MandelbrotArgs":
        if self.x_min >= self.x_max:
            raise ValueError(f"x_min ({self.x_min}) must be below x_max ({self.x_max})")
        if self.y_min >= self.y_max:
            raise ValueError(f"y_min ({self.y_min}) must be below y_max ({self.y_max})")
        if self.bands > self.height:
            raise ValueError(f"bands ({self.bands}) cannot exceed height ({self.height})")
        return self
