"""Lineage: graphviz's layout of a record's lineage graph (`layout`, no Qt), the view that
draws it and the tab that fetches it."""
