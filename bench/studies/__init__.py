"""Studies built from runs: recommend, gate, fault matrix, fidelity, scaling, selftest (run and judge; no drawing)."""
