"""Helpers shared by the tests and by the scripts that drive a real service (load, bench, fuzz):
conftest.py files hold fixtures only."""
