"""Bolt listeners and builders for modals, one module per form."""
