"""Rendering: every report and every PNG. `document` holds the one document model (Markdown and HTML),
`figure` the one way a PNG is set up and saved; `report` is the sweep report, `plots` its figures, and
`faults`, `fidelity`, `gate`, `recommend` and `scale` render the study of the same name in bench.studies."""
