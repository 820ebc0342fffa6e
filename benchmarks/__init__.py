"""popkin's performance studies (not part of the package or the unit tests).

Run everything with ``python -m benchmarks.run --quick`` (minutes, checks the harness) or
``--full`` (the study; run it on a quiet machine). See benchmarks/README.md.
"""
