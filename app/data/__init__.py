"""The app's Qt-free types and logic, testable without Qt: how registries are shown
(`registries`), which rows a table asks for and where they come from (`rows`), cell texts
(`formatting`) and the items of the transfer queue (`transfers`). No PySide6 here."""
