"""Pure functions over result rows: comparisons, groupings and the Universal Scalability Law fit."""
