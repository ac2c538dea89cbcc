"""Manager side of the mandelbrot example app."""
