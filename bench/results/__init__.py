"""Result files: results.json, results.csv and host.json, written atomically and read back in one place."""
