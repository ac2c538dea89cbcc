"""Worker side of the flight example app."""
