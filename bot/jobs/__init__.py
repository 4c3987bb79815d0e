"""Background jobs: an in-process scheduler and the periodic checks it runs."""
