"""Developer tools: layer build, demo, CLI. Run as ``python -m tools.<name>``."""
