"""A custom form for the flight app's arguments (shown by the Orchestrator's "app's form" toggle).

``build_form(args, save)`` returns a widget; ``save(values)`` validates and writes the changed
keys and raises ArgsError for bad values.
"""

import ipywidgets as widgets


def build_form(args, save):  # noqa: ANN001, ANN201 - the form contract is duck-typed
    flights = widgets.IntSlider(value=args.flights, min=1, max=500, description="flights")
    speed = widgets.FloatSlider(value=args.min_speed_kt, min=0, max=200, step=5, description="taxi below (kt)")
    output = widgets.ToggleButtons(options=["parquet", "csv"], value=args.output_format, description="format")
    status = widgets.HTML()

    def changed(name, value):  # noqa: ANN001, ANN202
        try:
            save({name: value})
            status.value = f"saved {name} = {value!r}"
        except Exception as error:  # noqa: BLE001 - shown to the user
            status.value = f'<span style="color:#cf222e">{error}</span>'

    flights.observe(lambda change: changed("flights", change["new"]), names="value")
    speed.observe(lambda change: changed("min_speed_kt", change["new"]), names="value")
    output.observe(lambda change: changed("output_format", change["new"]), names="value")
    return widgets.VBox([widgets.HTML("<b>Flight logs</b>"), flights, speed, output, status])
