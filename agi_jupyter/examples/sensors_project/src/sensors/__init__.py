"""Manager side of the sensors example app."""
