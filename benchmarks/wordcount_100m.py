"""Time the word count on 100 million words through OperatorFlow, plain PySpark and a standalone cluster.

Usage: `.venv/bin/python benchmarks/wordcount_100m.py [--words N] [--work-dir DIR]`.

The input is `examples/data/tinyshakespeare.txt` repeated until it has at least N words (default
100,000,000, about 550 MB), written once under `var/benchmarks/` and reused. Three runs follow,
one after another:

1. OperatorFlow, engine `local-spark`: the service queues the run and a worker in this process
   starts and follows it, with the default settings. The time runs from submission to SUCCEEDED.
2. Plain PySpark: `python benchmarks/wordcount_100m.py plain ...` runs the same query in a fresh
   process with the same master and driver memory, without OperatorFlow.
3. OperatorFlow, engine `spark-cluster`, on a standalone master and one worker (2 cores, 2 GB)
   that this script starts from the pip pyspark package on 127.0.0.1 and stops by process id.

Peak memory: every 0.25 s the script reads `VmHWM` (the kernel's peak resident set size) from
`/proc/PID/status` of the driver process and of every process below it, which is the driver's
JVM. It reports the Python process and the JVM separately; they peak at different moments, so their
sum is an upper bound of the driver's peak. On the cluster the executors run in the worker's JVMs,
which are not counted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
DATA = PROJECT / "examples" / "data" / "tinyshakespeare.txt"
WORD = re.compile(r"[a-z']+")
SAMPLE_SECONDS = 0.25
RUN_TIMEOUT_SECONDS = 1800.0


# The plain PySpark side: no operatorflow import, the notebook's query written out.

def plain_wordcount(input_path: str, output_path: str, master: str, driver_memory: str, top_n: int = 20) -> None:
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F

    spark = (SparkSession.builder.master(master).appName("plain-wordcount")
             .config("spark.driver.memory", driver_memory)
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .getOrCreate())
    try:
        lines = spark.read.text(input_path)
        tokens = lines.select(
            F.explode(F.regexp_extract_all(F.lower(F.col("value")), F.lit("[a-z']+"), 0)).alias("token")
        )
        words = tokens.select(F.regexp_replace("token", "^'+|'+$", "").alias("word")).where(F.col("word") != "")
        counts = words.groupBy("word").count().cache()
        totals = counts.agg(F.sum("count").alias("total"), F.count(F.lit(1)).alias("distinct")).first()
        (counts.coalesce(1).sortWithinPartitions(F.desc("count"), F.asc("word"))
         .write.mode("overwrite").option("header", True).csv(output_path.rstrip("/") + "/word_counts"))
        top_rows = counts.orderBy(F.desc("count"), F.asc("word")).limit(top_n).collect()
        print(json.dumps({
            "top_words": [{"word": row["word"], "count": int(row["count"])} for row in top_rows],
            "total_words": int(totals["total"] or 0),
            "distinct_words": int(totals["distinct"]),
        }))
    finally:
        spark.stop()


# Input and memory sampling

def count_words(text: str) -> int:
    """Count words as the notebook does: lower case, runs of [a-z'], outer apostrophes removed, empty dropped."""
    return sum(1 for token in WORD.findall(text.lower()) if token.strip("'"))


def generate_input(target_words: int, folder: Path) -> tuple[Path, int]:
    """Write the text repeated to at least `target_words` words; return the file and its word count."""
    text = DATA.read_text()
    if not text.endswith("\n"):
        text += "\n"
    words_per_copy = count_words(text)
    copies = math.ceil(target_words / words_per_copy)
    path = folder / f"tinyshakespeare_x{copies}.txt"
    expected_size = len(text.encode()) * copies
    if path.exists() and path.stat().st_size == expected_size:
        print(f"input: reusing {path} ({expected_size / 1e6:.0f} MB)", flush=True)
        return path, words_per_copy * copies

    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    partial = path.with_suffix(".partial")
    with open(partial, "w") as out:
        for _ in range(copies):
            out.write(text)
    partial.replace(path)
    print(f"input: wrote {path}: {copies} copies, {words_per_copy * copies:,} words, "
          f"{expected_size / 1e6:.0f} MB in {time.monotonic() - started:.1f} s", flush=True)
    return path, words_per_copy * copies


class PeakMemory:
    """Samples VmHWM of a process and its descendants until stopped; peaks are in MiB by process id."""

    def __init__(self) -> None:
        self.root: int | None = None
        self.peaks: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self, root: int | None = None) -> "PeakMemory":
        self.root = root
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def python_and_jvm(self) -> tuple[float, float]:
        """Return the peak of the root (Python) process and the largest peak below it (the JVM)."""
        root_peak = self.peaks.get(self.root, ("", 0.0))[1] if self.root else 0.0
        others = [peak for pid, (_, peak) in self.peaks.items() if pid != self.root]
        return root_peak, max(others, default=0.0)

    def _sample(self) -> None:
        while not self._stop.is_set():
            if self.root is not None:
                for pid in [self.root, *_descendants(self.root)]:
                    name, peak = _peak_rss(pid)
                    if peak > self.peaks.get(pid, ("", 0.0))[1]:
                        self.peaks[pid] = (name, peak)
            self._stop.wait(SAMPLE_SECONDS)


def _peak_rss(pid: int) -> tuple[str, float]:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return "", 0.0
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    peak_kib = int(fields.get("VmHWM", "0 kB").split()[0])
    return fields.get("Name", "").strip(), peak_kib / 1024


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, queue = [], [root]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


# The three runs

def run_through_operatorflow(engine: str, input_path: Path, home: Path, **settings_overrides: str) -> dict:
    sys.path.insert(0, str(PROJECT))
    from operatorflow.factory import build_engines, build_service
    from operatorflow.settings import load_settings
    from operatorflow.worker import Worker

    settings = load_settings(home=home, worker="none", **settings_overrides)
    service = build_service(settings)
    worker = Worker(service, build_engines(settings), worker_id=f"benchmark-{engine}")
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop,), daemon=True)
    thread.start()
    memory = PeakMemory()
    try:
        started = time.monotonic()
        run = service.submit_run("benchmark", "shakespeare-wordcount",
                                 {"input_path": str(input_path), "top_n": "20"}, engine=engine)
        deadline = started + RUN_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            run = service.get_run("benchmark", run.id)
            if run.engine_run_id and memory.root is None:
                memory.start(int(run.engine_run_id))
            if run.status.is_terminal:
                break
            time.sleep(0.1)
        seconds = time.monotonic() - started
    finally:
        memory.stop()
        worker.stop(stop)
        thread.join(60)
        service.registry.dispose()

    python_peak, jvm_peak = memory.python_and_jvm()
    return {
        "status": run.status.value,
        "error": run.error_message,
        "seconds": seconds,
        "python_peak_mib": python_peak,
        "jvm_peak_mib": jvm_peak,
        "result": json.loads(run.result) if run.result else None,
        "settings": {"spark_master": settings.spark_master, "spark_cluster_master": settings.spark_cluster_master,
                     "spark_driver_memory": settings.spark_driver_memory},
    }


def run_plain(input_path: Path, output_dir: Path) -> dict:
    sys.path.insert(0, str(PROJECT))
    from operatorflow.settings import Settings

    defaults = Settings()
    command = [sys.executable, __file__, "plain", str(input_path), str(output_dir),
               defaults.spark_master, defaults.spark_driver_memory]
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    started = time.monotonic()
    child = subprocess.Popen(command, env=env, cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    memory = PeakMemory().start(child.pid)
    try:
        stdout, stderr = child.communicate(timeout=RUN_TIMEOUT_SECONDS)
    finally:
        memory.stop()
    seconds = time.monotonic() - started
    python_peak, jvm_peak = memory.python_and_jvm()
    result_lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return {
        "status": "SUCCEEDED" if child.returncode == 0 else f"FAILED (exit code {child.returncode})",
        "error": None if child.returncode == 0 else stderr[-2000:],
        "seconds": seconds,
        "python_peak_mib": python_peak,
        "jvm_peak_mib": jvm_peak,
        "result": json.loads(result_lines[-1]) if result_lines else None,
        "settings": {"spark_master": defaults.spark_master, "spark_driver_memory": defaults.spark_driver_memory},
    }


def run_on_standalone_cluster(input_path: Path, work_dir: Path) -> dict:
    sys.path.insert(0, str(PROJECT))
    from tests.spark_servers import StandaloneCluster

    cluster = StandaloneCluster(work_dir / "cluster", cores=2, memory="2g")
    try:
        cluster.wait_ready()
        return run_through_operatorflow("spark-cluster", input_path, work_dir / "home-cluster",
                                        spark_cluster_master=cluster.url)
    finally:
        cluster.stop()


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    if args_list and args_list[0] == "plain":
        plain_wordcount(*args_list[1:5])
        return 0

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=100_000_000, help="minimum number of words of the input")
    parser.add_argument("--work-dir", type=Path, default=PROJECT / "var" / "benchmarks" / "wordcount_100m",
                        help="folder for the input and the runs' data (default: var/benchmarks/wordcount_100m)")
    parser.add_argument("--skip-cluster", action="store_true", help="do not start a standalone cluster")
    args = parser.parse_args(args_list)

    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    input_path, total_words = generate_input(args.words, args.work_dir)
    with tempfile.TemporaryDirectory(dir=args.work_dir, prefix="runs-") as scratch:
        scratch_dir = Path(scratch)
        results = {"operatorflow local-spark": run_through_operatorflow(
            "local-spark", input_path, scratch_dir / "home-local")}
        print(_line("operatorflow local-spark", results["operatorflow local-spark"]), flush=True)
        results["plain pyspark"] = run_plain(input_path, scratch_dir / "plain-output")
        print(_line("plain pyspark", results["plain pyspark"]), flush=True)
        if not args.skip_cluster:
            results["operatorflow spark-cluster"] = run_on_standalone_cluster(input_path, scratch_dir)
            print(_line("operatorflow spark-cluster", results["operatorflow spark-cluster"]), flush=True)

    print(f"\ninput: {input_path.name}, {input_path.stat().st_size / 1e6:.0f} MB, {total_words:,} words; "
          f"{os.cpu_count()} cores")
    print("| run | status | seconds | driver Python peak RSS (MiB) | driver JVM peak RSS (MiB) | total words |")
    print("|---|---|---|---|---|---|")
    for name, outcome in results.items():
        words = (outcome["result"] or {}).get("total_words")
        words_text = f"{words:,}" if words is not None else "-"
        print(f"| {name} | {outcome['status']} | {outcome['seconds']:.1f} | {outcome['python_peak_mib']:.0f} "
              f"| {outcome['jvm_peak_mib']:.0f} | {words_text} |")
    reference = [outcome["result"] for outcome in results.values()]
    same = all(result == reference[0] for result in reference) and reference[0] is not None
    print(f"\nresults equal across runs: {same}; expected total words {total_words:,}")
    (args.work_dir / "results.json").write_text(json.dumps(results, indent=2, default=str))
    failed = [name for name, outcome in results.items() if outcome["status"] != "SUCCEEDED"]
    for name in failed:
        print(f"{name} failed: {results[name]['error']}", file=sys.stderr)
    return 1 if failed or not same else 0


def _line(name: str, outcome: dict) -> str:
    return (f"{name}: {outcome['status']} in {outcome['seconds']:.1f} s, driver peak RSS Python "
            f"{outcome['python_peak_mib']:.0f} MiB, JVM {outcome['jvm_peak_mib']:.0f} MiB")


if __name__ == "__main__":
    sys.exit(main())
