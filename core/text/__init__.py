"""Text helpers for Persian and English input: normalisation, templating and slugs."""
