"""Reports out and back in: JSON and HTML, the reader, replay, redaction."""
