"""Worker of the data paths test app: no helper, only ``self.args``' paths.

Each item (a file name) is read from data_in and written to data_out in upper case; the report
folder gets one file per item with the three paths the worker saw.
"""

from pathlib import Path

from agi_jupyter.worker import BaseWorker


class DatapathsWorker(BaseWorker):
    def work_pool(self, item: str) -> None:
        text = (Path(self.args.data_in) / item).read_text()
        output = Path(self.args.data_out)
        output.mkdir(parents=True, exist_ok=True)
        (output / item).write_text(text.upper())
        report = Path(self.args.report)
        report.mkdir(parents=True, exist_ok=True)
        seen = [self.args.data_in, self.args.data_out, self.args.report]
        (report / item).write_text("\n".join(seen))
        return None
