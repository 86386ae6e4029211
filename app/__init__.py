"""labshelf's front ends: the desktop app (Qt) and the command line (no Qt)."""

if __name__ != "labshelf.app":  # one module, one name: app/ is installed as `labshelf.app`
    raise ImportError(f"labshelf's app was imported as '{__name__}'; import it as `labshelf.app`")
