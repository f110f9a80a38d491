"""fastnn's version, written once: pyproject.toml reads it, fastnn re-exports it."""

__version__ = "0.1.0"
