"""What every room of the desktop app stands on: background tasks (`tasks`), the PySide6
guard (`qtcompat`) and the themes with their icons (`theme`)."""
