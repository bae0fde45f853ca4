"""The audiocraft conformance runner: our implementations checked against audiocraft's reference fixtures."""
