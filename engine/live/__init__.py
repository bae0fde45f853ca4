"""Live mode: the window schedule, window making and the per-track session threads."""
