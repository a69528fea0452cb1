"""HTTP fakes the real clients talk to: each is an aiohttp server on port 0."""
