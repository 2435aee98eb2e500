"""Writes. One module per area: import from the module, e.g. store.services.purchases."""
