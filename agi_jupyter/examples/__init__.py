"""Example apps shipped with the package: ``flight_project`` (pandas over flight logs),
``mandelbrot_project`` (CPU-bound, where Cython pays off) and ``sensors_project`` (a DAG)."""
