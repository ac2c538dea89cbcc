"""Worker side of the data paths test app."""
