"""Conformance checks against reference outputs computed by audiocraft (one module per family)."""
