"""Worker side of the app_template app."""
