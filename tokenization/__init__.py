"""Tokenization: field types, and tokens that stand in for their values."""
