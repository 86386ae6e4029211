"""The shell: the main window that arranges the rooms, its actions and menus (declared as
data), the settings, the welcome window and the smoke test."""
