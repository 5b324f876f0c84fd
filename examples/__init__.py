"""Example apps and the spec files that describe their protocols (see README.md)."""
