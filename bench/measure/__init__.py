"""Measurement: one sync's trace and store judged against the truth, as the fields of a result row."""
