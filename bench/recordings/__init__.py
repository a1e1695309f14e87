"""Recorded sessions: record a real API as a scrubbed cassette, import it as a scenario, replay it."""
