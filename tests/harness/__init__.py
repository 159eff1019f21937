"""Test harnesses: tools the tests use that are not tests themselves (the fault-injection proxy)."""
