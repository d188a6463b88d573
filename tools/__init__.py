"""Command-line tools for people: the dev launcher, dev tokens, a topic tail."""
