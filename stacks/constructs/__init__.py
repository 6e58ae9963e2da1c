"""Constructs: the Lambda factory and one construct per capability. Keyword-only props; each exposes what it creates."""
