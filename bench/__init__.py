"""The benchmark: the service against its floors (pgbench, a bare aiohttp app) in one run.

`python -m bench --help`; docs/benchmark.md holds the committed results and how to read them.
"""
