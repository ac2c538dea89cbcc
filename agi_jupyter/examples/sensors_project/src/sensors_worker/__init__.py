"""Worker side of the sensors example app."""
