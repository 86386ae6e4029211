"""Previews: a file or folder shown in the details (images, tables, text) and thumbnails."""
