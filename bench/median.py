"""Median wall time of a shell command over RUNS runs, and the peak RSS of those runs.

Usage: python3 bench/median.py RUNS COMMAND   ->   prints "SECONDS PEAK_MB"
The peak RSS is GNU time's (`/usr/bin/time -f %M`, apt package `time`): Python's own rusage of
its children counts the forked interpreter's memory, which hides small peaks.
"""
import subprocess
import sys
import tempfile
import time

runs, command = int(sys.argv[1]), sys.argv[2]
times, peak_kb = [], 0
with tempfile.NamedTemporaryFile("r") as rss:
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-f", "%M", "-o", rss.name, "sh", "-c", command],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
        rss.seek(0)
        peak_kb = max(peak_kb, int(rss.read().split()[-1]))
times.sort()
print(f"{times[len(times) // 2]:.3f} {peak_kb // 1024}")
