"""Watch folders in the desktop app: *File → Watch a folder…* (`dialog`), the "Watched
folders" dock (`panel`), the watches it shows (`manager`, Qt) and their plain-data side
(`watches`, no Qt): options as stored in the settings, checks, and each row's state."""
