"""Worker side of the probe test app."""
