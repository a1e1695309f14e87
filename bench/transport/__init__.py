"""httpx transports: the simulated API on a clock, real sockets in wall time, and the trace they write."""
