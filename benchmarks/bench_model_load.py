"""Embedded-model load: first load (GGUF → safetensors conversion) vs cached reload, same run.

Target (issue 2): the cached reload is under 2 s. Same as `lorag-nb bench model_load`
(:func:`lorag_nb.infra.bench.bench_model_load`); writes runs/bench/model_load.json and prints a table.
"""
from __future__ import annotations

if __name__ == "__main__":
    from lorag_nb.infra import bench

    bench.run(["model_load"])
