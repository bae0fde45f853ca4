"""Musical time: the bar/beat grid (timeline) and conforming generated audio to it."""
