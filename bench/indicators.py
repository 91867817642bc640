"""Indicator extraction: precision and recall per kind on hand-labelled threat-report texts, and
false indicators per 10 KB of real files that hold none (tests/data/indicators/). AMAS's extractor
runs next to iocsearcher, ioc-finder and iocextract on the same texts in the same run.

    venv/bin/python bench/indicators.py            # table per kind, then the negatives
    venv/bin/python bench/indicators.py --misses   # also list what each tool got wrong

AMAS is scored twice: every indicator it reports ("all") and only those confident enough for the
knowledge graph ("graph", confidence >= GRAPH_MIN_CONFIDENCE), which is the default output that
reaches users. Other tools are scored only on the kinds they claim to extract."""

from __future__ import annotations

import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from apps.agents.indicators import GRAPH_MIN_CONFIDENCE, extract_indicators  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "indicators"
KINDS = (
    "url", "email", "domain", "ipv4", "ipv6", "md5", "sha1", "sha256", "cve", "btc", "eth", "xmr",
    "registry_key", "windows_path", "posix_path", "attack_technique", "asn",
)  # fmt: skip
CASE_SENSITIVE = {"btc", "xmr"}  # base58 spells different addresses in different cases

Found = set[tuple[str, str]]


def normalise(kind: str, value: str) -> str:
    value = value.strip()
    if kind in ("windows_path", "posix_path"):
        value = value.rstrip("\\/")
    if kind == "url":
        value = value.rstrip("/")
    if kind == "asn":
        value = "AS" + value.upper().removeprefix("ASN").removeprefix("AS").strip()
    return value if kind in CASE_SENSITIVE else value.lower()


def read_labels(path: Path) -> dict[str, Found]:
    labels: dict[str, Found] = defaultdict(set)
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, kind, value = line.split("\t")
            labels[name].add((kind, normalise(kind, value)))
    return labels


# ---------------------------------------------------------------------------- extractors


def amas_all(text: str) -> Found:
    return {(i.kind, normalise(i.kind, i.value)) for i in extract_indicators(text)}


def amas_graph(text: str) -> Found:
    return {
        (i.kind, normalise(i.kind, i.value))
        for i in extract_indicators(text, min_confidence=GRAPH_MIN_CONFIDENCE)
    }


def _ioc_finder() -> tuple[Callable[[str], Found], set[str]] | None:
    try:
        from ioc_finder import find_iocs  # type: ignore[import-untyped]
    except ImportError:
        return None
    names = {
        "urls": "url", "email_addresses": "email", "domains": "domain", "ipv4s": "ipv4",
        "ipv6s": "ipv6", "md5s": "md5", "sha1s": "sha1", "sha256s": "sha256", "cves": "cve",
        "bitcoin_addresses": "btc", "monero_addresses": "xmr", "registry_key_paths": "registry_key",
        "asns": "asn",
    }  # fmt: skip
    # the default types plus every kind of ours it can find (it has no Ethereum parser)
    included = [*names, "file_paths", "attack_techniques"]

    def run(text: str) -> Found:
        out = set()
        for key, values in find_iocs(text, included_ioc_types=included).items():
            if key == "attack_techniques":  # {"enterprise": [...], "mobile": [...], ...}
                out |= {
                    ("attack_technique", normalise("attack_technique", v))
                    for group in values.values()
                    for v in group
                }
            elif key == "file_paths":  # one list for both families
                for v in values:
                    kind = "posix_path" if v.startswith(("/", "~")) else "windows_path"
                    out.add((kind, normalise(kind, v)))
            elif key in names:
                out |= {(names[key], normalise(names[key], str(v))) for v in values}
        return out

    return run, {*names.values(), "posix_path", "windows_path", "attack_technique"}


def _iocsearcher() -> tuple[Callable[[str], Found], set[str]] | None:
    try:
        from iocsearcher.searcher import Searcher  # type: ignore[import-untyped]
    except ImportError:
        return None
    searcher = Searcher()
    names = {
        "url": "url", "email": "email", "fqdn": "domain", "ip4": "ipv4", "ip6": "ipv6", "md5": "md5",
        "sha1": "sha1", "sha256": "sha256", "cve": "cve", "bitcoin": "btc", "ethereum": "eth",
        "monero": "xmr", "registry": "registry_key", "ttp": "attack_technique", "asn": "asn",
    }  # fmt: skip

    def run(text: str) -> Found:
        return {
            (names[i.name], normalise(names[i.name], i.value))
            for i in searcher.search_data(text)
            if i.name in names
        }

    return run, set(names.values()) - {"asn"}  # its "asn" type is not in the default regexps


def _iocextract() -> tuple[Callable[[str], Found], set[str]] | None:
    try:
        import iocextract  # type: ignore[import-untyped]
    except ImportError:
        return None

    def run(text: str) -> Found:
        out: Found = set()
        for kind, values in (
            ("url", iocextract.extract_urls(text, refang=True)),
            ("email", iocextract.extract_emails(text, refang=True)),
            ("ipv4", iocextract.extract_ipv4s(text, refang=True)),
            ("ipv6", iocextract.extract_ipv6s(text)),
            ("md5", iocextract.extract_md5_hashes(text)),
            ("sha1", iocextract.extract_sha1_hashes(text)),
            ("sha256", iocextract.extract_sha256_hashes(text)),
        ):
            out |= {(kind, normalise(kind, v)) for v in values}
        return out

    return run, {"url", "email", "ipv4", "ipv6", "md5", "sha1", "sha256"}


def extractors() -> dict[str, tuple[Callable[[str], Found], set[str]]]:
    tools: dict[str, tuple[Callable[[str], Found], set[str]]] = {
        "amas (graph)": (amas_graph, set(KINDS)),
        "amas (all)": (amas_all, set(KINDS)),
    }
    for name, factory in (
        ("iocsearcher", _iocsearcher),
        ("ioc-finder", _ioc_finder),
        ("iocextract", _iocextract),
    ):
        made = factory()
        if made is None:
            print(f"{name}: not installed (pip install -r requirements-test.lock)")
        else:
            tools[name] = made
    return tools


# ---------------------------------------------------------------------------- scoring


def score_positives(run: Callable[[str], Found], claimed: set[str], labels: dict[str, Found]) -> dict:
    per_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn
    misses: list[str] = []
    for name, truth in labels.items():
        text = (CORPUS / "positives" / name).read_text()
        got = {f for f in run(text) if f[0] in claimed}
        truth = {t for t in truth if t[0] in claimed}
        for kind, _value in got & truth:
            per_kind[kind][0] += 1
        for kind, value in got - truth:
            per_kind[kind][1] += 1
            misses.append(f"  false {kind} {value!r} in {name}")
        for kind, value in truth - got:
            per_kind[kind][2] += 1
            misses.append(f"  missed {kind} {value!r} in {name}")
    return {"per_kind": per_kind, "misses": misses}


def score_negatives(run: Callable[[str], Found], claimed: set[str], allowed: dict[str, Found]) -> dict:
    false, size, listed = 0, 0, []
    for path in sorted((CORPUS / "negatives").glob("*.txt")):
        text = path.read_text(errors="replace")
        size += len(text.encode())
        wrong = {f for f in run(text) if f[0] in claimed} - allowed.get(path.name, set())
        false += len(wrong)
        listed += [f"  false {k} {v!r} in {path.name}" for k, v in sorted(wrong)]
    return {"false": false, "kb": size / 1024, "per_10kb": false / (size / 10240), "listed": listed}


def _ratio(a: int, b: int) -> str:
    return f"{a / b:.2f}" if b else "  - "


def main() -> None:
    show_misses = "--misses" in sys.argv
    labels = read_labels(CORPUS / "positives" / "labels.tsv")
    allowed = read_labels(CORPUS / "negatives" / "allowed.tsv")
    tools = extractors()
    results = {name: score_positives(run, claimed, labels) for name, (run, claimed) in tools.items()}
    labelled = sum(len(v) for v in labels.values())
    print(
        f"positives: {len(labels)} reports, {labelled} labelled indicators; cells are precision/recall (n labelled)"
    )
    print(f"{'kind':<17}" + "".join(f"{name:>16}" for name in tools))
    totals = {name: [0, 0, 0] for name in tools}
    for kind in KINDS:
        n = sum(1 for v in labels.values() for k, _ in v if k == kind)
        row = f"{kind:<17}"
        for name, (_, claimed) in tools.items():
            if kind not in claimed:
                row += f"{'n/a':>16}"
                continue
            tp, fp, fn = results[name]["per_kind"][kind]
            totals[name] = [a + b for a, b in zip(totals[name], (tp, fp, fn), strict=True)]
            row += f"{_ratio(tp, tp + fp) + '/' + _ratio(tp, tp + fn):>16}"
        print(row + f"  ({n})")
    row = f"{'all claimed':<17}"
    for name in tools:
        tp, fp, fn = totals[name]
        row += f"{_ratio(tp, tp + fp) + '/' + _ratio(tp, tp + fn):>16}"
    print(row)
    print("\nnegatives (real files, no IOCs): false indicators, per 10 KB")
    for name, (run, claimed) in tools.items():
        neg = score_negatives(run, claimed, allowed)
        print(f"  {name:<14} {neg['false']:>5} false in {neg['kb']:.0f} KB = {neg['per_10kb']:.2f} per 10 KB")
        if show_misses:
            print("\n".join(neg["listed"][:80]))
    if show_misses:
        for name in tools:
            print(f"\n{name} on positives:")
            print("\n".join(results[name]["misses"]) or "  none")


if __name__ == "__main__":
    main()
