"""Median wall time of a shell command over RUNS runs, and the peak RSS of those runs.

Usage: python3 bench/median.py RUNS COMMAND   ->   prints "SECONDS PEAK_MB"
"""
import resource
import subprocess
import sys
import time

runs, command = int(sys.argv[1]), sys.argv[2]
times = []
for _ in range(runs):
    start = time.perf_counter()
    subprocess.run(command, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times.append(time.perf_counter() - start)
times.sort()
peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024
print(f"{times[len(times) // 2]:.3f} {peak_mb}")
