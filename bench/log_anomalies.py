"""Log anomaly ranking on a real log: /var/log/dpkg.log as copied to tests/data/logs/dpkg.log, with
the attack lines of tests/agents/test_ml_anomaly.py planted. Prints how many templates the lines
fold into and the rank of each planted line, for the current code and, in the same run, for the
code before Drain templating (apps/agents/ml/anomaly.py at BASELINE, loaded from git).

    venv/bin/python bench/log_anomalies.py"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "amas.settings.test")

import django  # noqa: E402

django.setup()

from apps.agents.ml import anomaly  # noqa: E402
from tests.agents.test_ml_anomaly import PLANTED, dpkg_log_with_planted_lines  # noqa: E402

BASELINE = "b54f33e"  # the last commit with the IsolationForest-over-regex-patterns log scorer


def baseline_module() -> types.ModuleType:
    source = subprocess.check_output(
        ["git", "show", f"{BASELINE}:apps/agents/ml/anomaly.py"], cwd=ROOT, text=True
    )
    module = types.ModuleType("anomaly_baseline")
    exec(compile(source, "anomaly_baseline.py", "exec"), module.__dict__)  # our own code, from git
    return module


def main() -> None:
    text = dpkg_log_with_planted_lines()
    print(f"{len(text.splitlines())} lines, {len(PLANTED)} planted")
    for name, module in (("before (baseline)", baseline_module()), ("drain+content", anomaly)):
        started = time.perf_counter()
        result = module.log_anomalies(text, seed=0, contamination="auto", top=10_000, max_lines=50_000)
        elapsed = time.perf_counter() - started
        rank = {t["line"]: t["rank"] for t in result["top"]}
        ranks = ", ".join(f"{rank.get(line, '>' + str(len(rank)))}" for line in sorted(PLANTED))
        print(
            f"{name:<18} templates {result['templates']:>5}  flagged {result['flagged']:>4}  "
            f"planted ranks [{ranks}]  {elapsed:.2f} s"
        )


if __name__ == "__main__":
    main()
