"""The scenario: the TOML contract of one API world and the syncs run against it
(pydantic; imports nothing else of bench).
"""
