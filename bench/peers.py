#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Python peers of the QtProcessPool benchmark (stdlib only).

Runs one workload on one system and prints one JSON object:
    {"python": "3.11.7 (start method fork)", "metrics": {"w1.p50": 95.2, ...},
     "notes": ["..."]}
Metric ids and units match qtprocesspool-bench (bench/bench.h). Every result
is checked; a wrong one exits with status 1 and a message on stderr.

    peers.py calibrate --scaling-ms 80
    peers.py run --system mp|cf --workload w1..w5 [sizes and counts, see --help]

Systems: "mp" is multiprocessing.Pool (apply_async, map with its default
chunksize), "cf" is concurrent.futures.ProcessPoolExecutor (submit, map with
the same chunksize). Both use 2 workers and the default start method.
"""

import argparse
import concurrent.futures
import json
import multiprocessing
import platform
import sys
import time

WORKERS = 2
MASK = (1 << 64) - 1


def increment(value):
    return value + 1


def echo(data):
    return data


def burn(iterations):
    """xorshift64, as Bench::burn() in C++."""
    x = 0x9E3779B97F4A7C15
    for _ in range(iterations):
        x ^= (x << 13) & MASK
        x ^= x >> 7
        x ^= (x << 17) & MASK
    return x


def make_payload(size, seed):
    block = bytes((i * 131 + seed) & 0xFF for i in range(4096))
    return (block * (size // len(block) + 1))[:size]


def percentile(values, p):
    values = sorted(values)
    rank = max(1, -(-len(values) * p // 100))  # nearest rank, ceil
    return values[min(rank, len(values)) - 1]


def fail(message):
    print("peers.py: " + message, file=sys.stderr)
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)


class PoolSystem:
    """multiprocessing.Pool behind the common interface."""

    name = "mp"

    def __init__(self, workers=WORKERS):
        self.pool = multiprocessing.Pool(workers)

    def submit(self, fn, *args):
        return self.pool.apply_async(fn, args)

    @staticmethod
    def result(handle):
        return handle.get()

    def map(self, fn, items, chunksize):
        return self.pool.map(fn, items, chunksize)

    def close(self):
        self.pool.close()
        self.pool.join()


class ExecutorSystem:
    """concurrent.futures.ProcessPoolExecutor behind the common interface."""

    name = "cf"

    def __init__(self, workers=WORKERS):
        self.executor = concurrent.futures.ProcessPoolExecutor(workers)

    def submit(self, fn, *args):
        return self.executor.submit(fn, *args)

    @staticmethod
    def result(handle):
        return handle.result()

    def map(self, fn, items, chunksize):
        return list(self.executor.map(fn, items, chunksize=chunksize))

    def close(self):
        self.executor.shutdown(wait=True)


SYSTEMS = {"mp": PoolSystem, "cf": ExecutorSystem}


def ready(system_class, workers=WORKERS):
    """A pool whose workers have all started and run a task."""
    system = system_class(workers)
    handles = [system.submit(time.sleep, 0.02) for _ in range(2 * workers)]
    for handle in handles:
        system.result(handle)
    return system


def default_chunksize(count, workers=WORKERS):
    """multiprocessing.Pool.map's own choice: about four chunks per worker."""
    chunksize, extra = divmod(count, workers * 4)
    return chunksize + 1 if extra else chunksize


def latency(system_class, args, metrics, notes):
    system = ready(system_class)
    samples = []
    for i in range(args.round_trips):
        start = time.perf_counter()
        value = system.result(system.submit(increment, i))
        samples.append((time.perf_counter() - start) * 1e6)
        check(value == i + 1, f"increment({i}) gave {value}")
    system.close()
    metrics["w1.p50"] = percentile(samples, 50)
    metrics["w1.p99"] = percentile(samples, 99)


def throughput(system_class, args, metrics, notes):
    system = ready(system_class)
    count = args.tasks if system_class is PoolSystem else min(args.tasks, args.executor_tasks)
    if count < args.tasks:
        notes.append(f"W2 submit() runs {count:,} tasks per repetition instead of "
                     f"{args.tasks:,} (it takes seconds per 10,000); the rate is reported")
    start = time.perf_counter()
    handles = [system.submit(increment, i) for i in range(count)]
    submitted = time.perf_counter()
    for i, handle in enumerate(handles):
        value = system.result(handle)
        check(value == i + 1, f"increment({i}) gave {value}")
    finished = time.perf_counter()
    metrics["w2.run"] = count / (finished - start)
    metrics["w6.submit"] = (submitted - start) / count * 1e6

    chunksize = default_chunksize(args.tasks)
    start = time.perf_counter()
    values = system.map(increment, range(args.tasks), chunksize)
    elapsed = time.perf_counter() - start
    check(values == list(range(1, args.tasks + 1)), "map gave wrong results")
    metrics["w2.mapped"] = args.tasks / elapsed
    notes.append(f"W2 map() with chunksize {chunksize:,}")
    system.close()


def payload(system_class, args, metrics, notes):
    system = ready(system_class)
    for index, (size, iterations) in enumerate(zip(args.sizes, args.iterations)):
        data = make_payload(size, index + 1)
        elapsed = 0.0
        for _ in range(iterations):
            start = time.perf_counter()
            echoed = system.result(system.submit(echo, data))
            elapsed += time.perf_counter() - start
            check(echoed == data, f"echo of {size} bytes came back different")
            del echoed
        metrics[f"w3.{size}"] = 2.0 * size * iterations / elapsed / 1e6
    system.close()


def scaling(system_class, args, metrics, notes):
    seconds = {}
    for workers in (1, 2):
        system = ready(system_class, workers)
        start = time.perf_counter()
        handles = [system.submit(burn, args.burn_iterations) for _ in range(args.scaling_tasks)]
        for handle in handles:
            value = system.result(handle)
            check(str(value) == args.burn_expected,
                  f"burn gave {value}, expected {args.burn_expected}")
        seconds[workers] = time.perf_counter() - start
        system.close()
    metrics["w4.t1"] = seconds[1]
    metrics["w4.t2"] = seconds[2]
    metrics["w4.speedup"] = seconds[1] / seconds[2]


def cold_start(system_class, args, metrics, notes):
    start = time.perf_counter()
    system = system_class()
    value = system.result(system.submit(increment, 1))
    elapsed = time.perf_counter() - start
    check(value == 2, f"increment(1) gave {value}")
    system.close()
    metrics["w5.cold"] = elapsed * 1e3


WORKLOADS = {"w1": latency, "w2": throughput, "w3": payload, "w4": scaling, "w5": cold_start}


def version():
    return f"{platform.python_version()} (start method {multiprocessing.get_start_method()})"


def calibrate(args):
    iterations = 10000
    for _ in range(2):
        best = min(timed(burn, iterations) for _ in range(3))
        iterations = max(1000, int(iterations * args.scaling_ms / 1e3 / max(best, 1e-5)))
    return {"python": version(), "burn_iterations": iterations,
            "burn_expected": str(burn(iterations))}


def timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def numbers(text):
    return [int(part) for part in text.split(",") if part]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["calibrate", "run"])
    parser.add_argument("--system", choices=sorted(SYSTEMS))
    parser.add_argument("--workload", choices=sorted(WORKLOADS))
    parser.add_argument("--round-trips", type=int, default=10000)
    parser.add_argument("--tasks", type=int, default=100000)
    parser.add_argument("--executor-tasks", type=int, default=20000)
    parser.add_argument("--sizes", type=numbers, default=[1 << 20, 16 << 20, 64 << 20])
    parser.add_argument("--iterations", type=numbers, default=[16, 2, 1])
    parser.add_argument("--scaling-tasks", type=int, default=16)
    parser.add_argument("--scaling-ms", type=int, default=80)
    parser.add_argument("--burn-iterations", type=int)
    parser.add_argument("--burn-expected")
    args = parser.parse_args()

    if args.command == "calibrate":
        print(json.dumps(calibrate(args)))
        return
    if not args.system or not args.workload:
        parser.error("run needs --system and --workload")
    if args.workload == "w4" and (args.burn_iterations is None or args.burn_expected is None):
        parser.error("w4 needs --burn-iterations and --burn-expected (from calibrate)")
    if len(args.sizes) != len(args.iterations):
        parser.error("--sizes and --iterations differ in length")
    metrics, notes = {}, []
    WORKLOADS[args.workload](SYSTEMS[args.system], args, metrics, notes)
    print(json.dumps({"python": version(), "metrics": metrics, "notes": notes}))


if __name__ == "__main__":
    main()
