"""A custom form for the flight app's arguments (shown by the Orchestrator's "app's form" toggle).

``build_form(args, save)`` returns a widget; ``save(values)`` validates and writes the changed
keys and raises ArgsError for bad values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

if TYPE_CHECKING:
    from pydantic import BaseModel


def build_form(args: Any, save: Callable[[dict[str, Any]], BaseModel]) -> widgets.Widget:
    """The form; ``args`` is the app's FlightArgs (duck-typed: this file is loaded on its own)."""
    flights = widgets.IntSlider(value=args.flights, min=1, max=500, description="flights")
    speed = widgets.FloatSlider(value=args.min_speed_kt, min=0, max=200, step=5, description="taxi below (kt)")
    output = widgets.ToggleButtons(options=["parquet", "csv"], value=args.output_format, description="format")
    status = widgets.HTML()

    def changed(name: str, value: object) -> None:
        try:
            save({name: value})
            status.value = f"saved {name} = {value!r}"
        except Exception as error:  # noqa: BLE001 - shown to the user
            status.value = f'<span style="color:#cf222e">{error}</span>'

    flights.observe(lambda change: changed("flights", change["new"]), names="value")
    speed.observe(lambda change: changed("min_speed_kt", change["new"]), names="value")
    output.observe(lambda change: changed("output_format", change["new"]), names="value")
    return widgets.VBox([widgets.HTML("<b>Flight logs</b>"), flights, speed, output, status])
