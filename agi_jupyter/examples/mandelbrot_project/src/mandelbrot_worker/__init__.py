"""Worker side of the mandelbrot example app."""
