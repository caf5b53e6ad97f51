#!/usr/bin/env python3
"""Prints the N slowest tests of a cargo-nextest JUnit report: scripts/test ends with it."""
import sys
import xml.etree.ElementTree as ET

report, count = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10
cases = []
for case in ET.parse(report).getroot().iter("testcase"):
    failed = case.find("failure") is not None or case.find("error") is not None
    cases.append((float(case.get("time", 0)), case.get("classname", ""), case.get("name", ""), failed))
cases.sort(reverse=True)
total = sum(c[0] for c in cases)
print(f"\nthe {min(count, len(cases))} slowest of {len(cases)} tests ({total:.0f} s of test time in all):")
for seconds, binary, name, failed in cases[:count]:
    print(f"  {seconds:7.1f} s  {binary} {name}{'  (FAILED)' if failed else ''}")
