"""HTTP fakes the real clients talk to (DESIGN §5): each is an aiohttp server on port 0."""
