"""Running syncs: one sync session (virtual or real clock), the run of a scenario, sweeps and their process pools."""
