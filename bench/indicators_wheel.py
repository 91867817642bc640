"""How many indicators an ordinary Python wheel yields: the text of every member of each wheel
given, through the extractor before issue 15 (apps/agents/indicators.py at BASELINE, loaded from
git) and the current one (all candidates, and those confident enough for the knowledge graph).
A wheel holds no IOCs, so every graph entity it yields is a cost; genuine URLs and e-mails in its
metadata are expected.

    venv/bin/python bench/indicators_wheel.py /opt/pypi/files/alembic-1.20.0-py3-none-any.whl ..."""

from __future__ import annotations

import subprocess
import sys
import types
import zipfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.agents.indicators import GRAPH_MIN_CONFIDENCE, extract_indicators  # noqa: E402

BASELINE = "b71230e"  # the tree before issue 15's first commit


def baseline() -> types.ModuleType:
    source = subprocess.check_output(
        ["git", "show", f"{BASELINE}:apps/agents/indicators.py"], cwd=ROOT, text=True
    )
    module = types.ModuleType("indicators_baseline")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, "indicators_baseline.py", "exec"), module.__dict__)  # our own code, from git
    return module


def wheel_text(path: str) -> str:
    parts = []
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            data = archive.read(name)
            if b"\0" not in data[:4096]:
                parts.append(data.decode("utf-8", errors="replace"))
    return "\n".join(parts)


def main() -> None:
    old = baseline()
    for path in sys.argv[1:]:
        text = wheel_text(path)
        before = {(i.kind, i.value) for i in old.extract_indicators(text)}
        now = extract_indicators(text)
        every = {(i.kind, i.value) for i in now}
        graph = {(i.kind, i.value) for i in now if i.confidence >= GRAPH_MIN_CONFIDENCE}
        kinds = Counter(k for k, _ in graph)
        print(
            f"{Path(path).name}: {len(text) // 1024} KB text; before {len(before)}, now {len(every)} "
            f"candidates, {len(graph)} for the graph ({', '.join(f'{k} {n}' for k, n in kinds.most_common())})"
        )


if __name__ == "__main__":
    main()
