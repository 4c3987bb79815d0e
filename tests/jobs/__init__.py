"""Watchers and the scheduler."""
