"""/prompt (in progress)."""
