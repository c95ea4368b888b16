"""Access tokens: their claims, signing (identity) and verification (every service)."""
