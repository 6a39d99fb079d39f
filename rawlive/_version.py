"""rawlive's version: the one place it is written (pyproject.toml reads it from here).

A module of its own that imports nothing, so any module can name the version
without importing the package ``__init__``, which imports from them.
"""

__version__ = "0.1.0"
