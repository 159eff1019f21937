"""The embedded sandbox: emulated AWS (moto in server mode) plus a local data plane.

Everything that makes moto behave like AWS where it does not lives in `moto_ext`, and
nothing outside this package knows the sandbox exists.
"""
