"""Benchmarks: every hot path against the raw library it wraps, measured in the same run."""
