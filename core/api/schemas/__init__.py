"""Pydantic request and response models of the REST sidecar, one module per resource."""
