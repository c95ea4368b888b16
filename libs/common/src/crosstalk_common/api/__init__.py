"""Resource-oriented API helpers: pagination (AIP-158) and field masks (AIP-134)."""
