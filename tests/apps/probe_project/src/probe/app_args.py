"""Arguments of the probe test app."""

from pydantic import BaseModel, Field


class ProbeArgs(BaseModel):
    items: int = Field(4, ge=1)
    delay: float = Field(0.0, ge=0)
    data_out: str = "probe"
