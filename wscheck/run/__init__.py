"""Conversations and rooms run through a driver, what a check is, and the run's schedule."""
