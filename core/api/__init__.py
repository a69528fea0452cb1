"""The aiohttp REST sidecar: thin routes over the core services (docs/architecture.md §3)."""
