"""Manager side of the app_template app: its arguments and its plan of number ranges."""
