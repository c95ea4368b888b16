"""Customer filters answered from memory (ADR 0010)."""
