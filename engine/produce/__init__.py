"""Producing takes: the generate and continue jobs, their sidecar meta, render and publish steps."""
