"""Bolt listeners for block actions (button clicks), one module per feature."""
