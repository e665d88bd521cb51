"""paygate benchmarks: ``python -m bench.run`` (``make bench``). Separate from the tests; prints figures."""
