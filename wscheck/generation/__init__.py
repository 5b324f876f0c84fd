"""Hypothesis: the strategies that draw conversations and the runner that shrinks them."""
