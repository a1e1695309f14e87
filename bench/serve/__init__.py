"""The simulated API over HTTP in wall time (`syncbench serve`), and a managed server process for studies."""
