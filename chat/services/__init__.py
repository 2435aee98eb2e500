"""Writes. One module per area: import from the module, e.g. chat.services.messages."""
