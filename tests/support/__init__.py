"""Helpers only the tests use: never shipped, never run by people."""
