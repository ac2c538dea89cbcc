"""Manager side of the app_template app: its arguments and its DAG of steps."""
