"""Manager side of the flight example app."""
