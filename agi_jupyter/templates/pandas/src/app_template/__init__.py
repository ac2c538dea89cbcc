"""Manager side of the app_template app: its arguments, its input files and its plan."""
