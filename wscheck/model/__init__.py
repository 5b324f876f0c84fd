"""The oracles: what a conforming server sends, as pure functions of a spec and a conversation."""
