"""Credentials: one-time codes, JWT sessions, rate limits and per-key exclusive claims."""
