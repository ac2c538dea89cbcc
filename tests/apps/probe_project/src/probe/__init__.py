"""Manager side of the probe test app."""
