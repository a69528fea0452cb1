"""The aiohttp REST sidecar: thin routes over the core services (DESIGN §3.3)."""
