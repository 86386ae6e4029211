"""Icons, style sheets and the desktop entry, read with importlib.resources."""
