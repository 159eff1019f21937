"""Releases: pure planning, strategies and gates; an executor that journals every step."""
