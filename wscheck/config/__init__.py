"""What the user typed, checked once: settings, the target, known failures."""
