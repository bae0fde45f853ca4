"""Our own modules and loader for checkpoints exported by audiocraft (AudioGen, MAGNeT, MusicGen-Style)."""
