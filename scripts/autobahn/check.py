#!/usr/bin/env python3
"""Compare an Autobahn|Testsuite fuzzingclient report with the committed expected results.

Usage:
    check.py [--expected expected.json] REPORT_DIR_OR_INDEX_JSON
    check.py --write-expected [--expected expected.json] REPORT_DIR_OR_INDEX_JSON

Reads the report's index.json (wstest or kosoku; both write
{agent: {case_id: {"behavior", "behaviorClose", "reportfile", ...}}}) and compares every case's
`behavior` and `behaviorClose` with expected.json. Outcomes rank
OK > NON-STRICT > INFORMATIONAL > UNIMPLEMENTED > FAILED; every other label (WRONG CODE,
UNCLEAN, FAILED BY CLIENT, kosoku's ERROR, anything unknown) ranks as FAILED. The gate fails
(exit 1) when
  - a case's behavior or behaviorClose is worse than expected (a regression),
  - an expected case is missing from the report (the server died mid-run, or wstest timed out),
  - the report has a case expected.json does not list (expected.json is stale: update it),
  - the report is missing or empty.
Failures found outside the report (`--fail REASON`, from run.sh: the server died, panicked,
did not exit 0 on SIGTERM) count too. A case that got better is reported as a note: tighten expected.json with --write-expected.

It always prints one summary line per outcome kind and a closing line
`autobahn: N passed, M failed`, where a case passes when it is no worse than expected.

--write-expected rewrites expected.json from the report, and refuses to when the report has
a regression or a missing case (the file records the target, never a failure).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import Counter

ORDER = ["OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED"]
RANK = {label: i for i, label in enumerate(ORDER)}
WORST = RANK["FAILED"]

HERE = os.path.dirname(os.path.abspath(__file__))


def rank(label: str | None) -> int:
    return RANK.get(label or "", WORST)


def norm(label: str | None) -> str:
    """The label as counted in the summary: one of ORDER (unknown labels count as FAILED)."""
    return label if label in RANK else "FAILED"


def case_key(case_id: str):
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("."))


def load_report(path: str):
    index_path = os.path.join(path, "index.json") if os.path.isdir(path) else path
    if not os.path.isfile(index_path):
        return None, index_path, os.path.dirname(index_path)
    with open(index_path) as f:
        index = json.load(f)
    cases: dict[str, dict] = {}
    for _agent, agent_cases in index.items():
        for case_id, entry in agent_cases.items():
            cases[case_id] = entry
    return cases, index_path, os.path.dirname(index_path)


def case_details(report_dir: str, entry: dict) -> str:
    """A few lines from the per-case report that say what the server did."""
    name = entry.get("reportfile")
    if not name:
        return ""
    try:
        with open(os.path.join(report_dir, name)) as f:
            d = json.load(f)
    except (OSError, ValueError):
        return ""
    lines = []
    desc = " ".join(str(d.get("description", "")).replace("<br>", " ").split())
    if desc:
        lines.append(f"      case: {desc[:300]}")
    exp = " ".join(str(d.get("expectation", "")).replace("<br>", " ").split())
    if exp:
        lines.append(f"      expectation: {exp[:300]}")
    if d.get("result") or d.get("resultClose"):
        lines.append(f"      result: {d.get('result')} / {d.get('resultClose')}")
    ec = d.get("expectedClose") or {}
    lines.append(
        "      close: expected code(s) %s, server sent %s (%r); wasClean=%s%s"
        % (
            ec.get("closeCode"),
            d.get("remoteCloseCode"),
            d.get("remoteCloseReason"),
            d.get("wasClean"),
            f", reason: {d['wasNotCleanReason']}" if d.get("wasNotCleanReason") else "",
        )
    )
    # The end of the wire log: what was sent (T*) and received (R*), as octets (O) and frames (F).
    wirelog = d.get("wirelog") or []
    if wirelog:
        lines.append("      wire log (last entries; TO/RO = octets out/in, TF/RF = frames out/in):")
        for w in wirelog[-8:]:
            lines.append("        " + json.dumps(w)[:160])
    lines.append(f"      report: {os.path.join(report_dir, name)}")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("report", help="report directory (holding index.json) or the index.json itself")
    ap.add_argument("--expected", default=os.path.join(HERE, "expected.json"))
    ap.add_argument("--write-expected", action="store_true", help="rewrite expected.json from the report")
    ap.add_argument("--fail", action="append", default=[], metavar="REASON",
                    help="a failure found outside the report (server died, panicked, ...); repeatable")
    ap.add_argument("--runner", default="", help="the runner used, shown on the verdict line")
    args = ap.parse_args()

    got, index_path, report_dir = load_report(args.report)
    if not got:
        for reason in args.fail:
            print(f"FAIL: {reason}")
        print(f"FAIL: no results in {index_path} (did the suite run? did it time out?)")
        print(f"autobahn: 0 passed, {1 + len(args.fail)} failed")
        return 1

    with open(args.expected) as f:
        expected: dict[str, dict] = json.load(f)
    expected.pop("_comment", None)

    regressions, missing, improved = [], [], []
    unexpected = sorted(set(got) - set(expected), key=case_key)
    for case_id in sorted(expected, key=case_key):
        want = expected[case_id]
        have = got.get(case_id)
        if have is None:
            missing.append(case_id)
            continue
        worse = [
            f"{field} {want[field]} -> {have.get(field)}"
            for field in ("behavior", "behaviorClose")
            if rank(have.get(field)) > rank(want[field])
        ]
        better = [
            f"{field} {want[field]} -> {have.get(field)}"
            for field in ("behavior", "behaviorClose")
            if rank(have.get(field)) < rank(want[field])
        ]
        if worse:
            regressions.append((case_id, worse, have))
        elif better:
            improved.append((case_id, better))

    if args.write_expected:
        if regressions or missing:
            print(
                f"autobahn: refusing to write {args.expected}: {len(regressions)} regression(s), "
                f"{len(missing)} missing case(s); expected.json records the target, not failures"
            )
            return 1
        bad = [c for c, e in got.items() if rank(e.get("behavior")) == WORST or rank(e.get("behaviorClose")) == WORST]
        if bad:
            print(f"autobahn: refusing to write {args.expected}: FAILED cases {sorted(bad, key=case_key)}")
            return 1
        out = {
            c: {"behavior": got[c]["behavior"], "behaviorClose": got[c]["behaviorClose"]}
            for c in sorted(got, key=case_key)
        }
        with open(args.expected, "w") as f:  # one case a line, so diffs read well
            f.write("{\n")
            f.write(",\n".join(f" {json.dumps(c)}: {json.dumps(v)}" for c, v in out.items()))
            f.write("\n}\n")
        print(f"autobahn: wrote {len(out)} cases to {args.expected}")
        return 0

    behavior = Counter(norm(e.get("behavior")) for e in got.values())
    close = Counter(norm(e.get("behaviorClose")) for e in got.values())
    # A case's outcome is the worse of its behavior and its closing behavior.
    outcome = Counter(
        ORDER[max(rank(e.get("behavior")), rank(e.get("behaviorClose")))] for e in got.values()
    )
    raw_close = Counter(e.get("behaviorClose") for e in got.values() if e.get("behaviorClose") not in RANK)

    def fmt(c: Counter) -> str:
        return ", ".join(f"{label} {c.get(label, 0)}" for label in ORDER)

    for case_id, worse, have in regressions:
        print(f"REGRESSION {case_id}: {'; '.join(worse)}")
        details = case_details(report_dir, have)
        if details:
            print(details)
    if missing:
        per_group = Counter(c.split(".")[0] for c in missing)
        shown = ", ".join(missing[:15]) + (", ..." if len(missing) > 15 else "")
        print(
            f"MISSING {len(missing)} expected case(s) not in the report (server died or suite stopped?): {shown}; "
            f"per group: {', '.join(f'{g}.x {n}' for g, n in sorted(per_group.items(), key=lambda x: int(x[0])))}"
        )
    for case_id in unexpected:
        print(f"UNLISTED {case_id}: {got[case_id].get('behavior')}/{got[case_id].get('behaviorClose')} is not in {os.path.basename(args.expected)}")
    for case_id, better in improved:
        print(f"improved {case_id}: {'; '.join(better)} (tighten expected.json with --write-expected)")

    print(f"autobahn: {len(got)} cases in {index_path}")
    print(f"autobahn: outcome       {fmt(outcome)}")
    print(f"autobahn: behavior      {fmt(behavior)}")
    extra = f" (of which {', '.join(f'{k} {v}' for k, v in sorted(raw_close.items()))})" if raw_close else ""
    print(f"autobahn: behaviorClose {fmt(close)}{extra}")
    print(
        f"autobahn: {len(regressions)} regression(s), {len(missing)} missing, "
        f"{len(unexpected)} unlisted, {len(improved)} improved (vs {len(expected)} expected)"
    )
    for reason in args.fail:
        print(f"FAIL: {reason}")
    failed_ids = {c for c, _, _ in regressions} | set(missing) | set(unexpected)
    passed = len(expected) - len(set(missing)) - len({c for c, _, _ in regressions})
    failed = len(failed_ids) + len(args.fail)
    print(f"autobahn: {'PASS' if not failed else 'FAIL'}{f' (runner: {args.runner})' if args.runner else ''}")
    print(f"autobahn: {passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
