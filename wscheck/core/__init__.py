"""The vocabulary and the protocol as data: events, the spec, bounds, codecs, rendering."""
