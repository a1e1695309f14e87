"""The world a scenario describes: its records, their timeline, and the ground truth of a sync (pure)."""
