"""Instances: the welcome view of the first start, the open/new instance dialogs and the
connection checks behind them."""
