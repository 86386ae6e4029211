"""labshelf's version (one place; the package, the CLI and the app read it)."""

__version__ = "0.1.0"
