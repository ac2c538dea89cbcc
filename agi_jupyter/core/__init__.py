"""The engine: plain Python over Dask. Nothing here imports ipywidgets."""
