"""Virtual-patient simulation throughput (``python -m benchmarks.simulation.run``)."""
