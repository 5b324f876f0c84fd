"""The pytest plugin: options, the suite as test items, fixtures, the collector."""
