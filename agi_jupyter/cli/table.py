"""The one plain-text table of the command line (benchmarks, service workers).

Every table the CLI prints goes through :func:`format_columns` so that they all look alike
(left-aligned columns two spaces apart, no trailing blanks) and a change of layout is made once.
"""

from __future__ import annotations

from collections.abc import Sequence

COLUMN_GAP = "  "


def format_columns(rows: Sequence[Sequence[object]]) -> str:
    """Rows (the header first) as left-aligned columns, each as wide as its widest cell.

    Cells are shown with ``str``; each line is right-stripped so that an empty last column leaves
    no trailing blanks for a diff or a test to trip on.
    """
    texts = [[str(cell) for cell in row] for row in rows]
    if not texts:
        return ""
    widths = [max(len(row[column]) for row in texts if column < len(row)) for column in range(max(map(len, texts)))]
    return "\n".join(COLUMN_GAP.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in texts)
