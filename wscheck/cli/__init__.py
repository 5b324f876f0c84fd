"""The ``wscheck`` command."""
