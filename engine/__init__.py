"""The engine: requests, jobs, conditioning, timing, generation, decoding, rendering and executors."""
