"""The shared vocabulary every layer speaks: the records at the seams (types.py), the error
hierarchy (errors.py), verdicts as a benchmark reads them (verdicts.py), the Hugging Face cache
lookup (hub_cache.py). It imports nothing else of the project, so envs/ and policies/ depend on it
alone and the engine (harness/) sits on top of all three."""
