"""Worker of the probe test app.

Each finished item leaves ``<share>/<data_out>/executions/<item>~<unique>`` (written last, so a
killed execution leaves none). An item named ``raise`` raises; the file ``<share>/<data_out>/
crash-loop`` makes the service loop's idle hook raise once.
"""

import os
import time
import uuid

from agi_jupyter.worker import BaseWorker


class ProbeWorker(BaseWorker):
    def work_init(self) -> None:
        self.folder = self.data_path(self.args.data_out)
        (self.folder / "executions").mkdir(parents=True, exist_ok=True)

    def work_pool(self, item: str) -> None:
        if item == "raise":
            raise ValueError("probe item asked to raise")
        time.sleep(self.args.delay)
        marker = self.folder / "executions" / f"{item}~{os.getpid()}-{uuid.uuid4().hex[:8]}"
        marker.write_text(str(os.getpid()))
        return None

    def loop(self) -> None:
        trigger = self.folder / "crash-loop"
        if trigger.exists():
            trigger.unlink()
            raise RuntimeError("probe loop crashed on purpose")
