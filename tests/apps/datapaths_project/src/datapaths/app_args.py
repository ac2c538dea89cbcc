"""Arguments of the data paths test app: the two usual data paths and a declared one."""

from pydantic import BaseModel

from agi_jupyter import DataPath


class DatapathsArgs(BaseModel):
    data_in: str = "datapaths/in"
    data_out: str = "datapaths/out"
    report: DataPath = "datapaths/report"
