"""Speed measurements, each against a named anchor. Run them as modules: `python -m benchmarks.NAME`
(as scripts, `benchmarks/math.py` would shadow the standard library's `math`)."""
