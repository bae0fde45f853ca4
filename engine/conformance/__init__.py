"""Conformance runners that check our model code against the audiocraft reference, one module per family."""
