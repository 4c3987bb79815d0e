"""The App Home."""
