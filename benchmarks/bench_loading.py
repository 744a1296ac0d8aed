"""Loading EuroSAT: first decode of all 27,000 JPEGs, then a reload from the cache.

    python benchmarks/bench_loading.py

Uses a fresh, temporary cache folder, so the first load really decodes.
"""

from __future__ import annotations

import os
import tempfile
import time

from course_utils import data


def main() -> None:
    with tempfile.TemporaryDirectory() as cache:
        os.environ["COURSE_CACHE_DIR"] = cache
        started = time.perf_counter()
        first = data.load_eurosat(progress=False)
        decode = time.perf_counter() - started

        started = time.perf_counter()
        again = data.load_eurosat(progress=False)
        reload = time.perf_counter() - started

        started = time.perf_counter()
        data.eurosat_splits(dataset=again)
        split = time.perf_counter() - started
    assert first.images.equal(again.images)
    size = first.images.numel() / 1e6
    print(
        f"first load (list, verify, decode {len(first):,} JPEGs, write cache): "
        f"{decode:.1f} s"
    )
    print(
        f"reload from cache ({size:.0f} MB uint8): {reload:.1f} s, "
        f"{decode / reload:.1f}x faster"
    )
    print(f"split and normalisation statistics: {split:.2f} s")


if __name__ == "__main__":
    main()
