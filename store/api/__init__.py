"""The store's REST edge: one module per area, one view class per operation."""
