"""sortbox: pure stage logic of the pipeline (no luigi here; tasks/ wraps these functions).

Importing the package imports nothing heavy, so that `sortbox.portable_scorer` stays stdlib-only.
"""
__version__ = "0.1.0"
