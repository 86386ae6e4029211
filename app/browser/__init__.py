"""The browser: the registry table (or thumbnail grid), its filters, the selected record's
details, the trash page and the collection browser."""
