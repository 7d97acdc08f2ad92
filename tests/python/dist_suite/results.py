"""junit.xml of a dist-suite run -> results.tsv (test, result, first error line) and a summary.

    python results.py JUNIT_XML RESULTS_TSV BACKEND TORCH_VERSION SECONDS
"""
import re
import sys
import xml.etree.ElementTree as ET


ERROR_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(Error|Exception|Interrupt|Timeout)[A-Za-z]*: ")


def first_error_line(element):
    """The exception a rank raised: torch's failure text is "RuntimeError: Process N exited
    with error code 10 and exception:" followed by the rank's traceback, whose last
    exception line names the error; a timeout says "Timing out after N seconds"."""
    text = (element.get("message") or "") + "\n" + (element.text or "")
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("E "):
            line = line[2:].strip()
        if line:
            lines.append(line)
    for line in lines:
        if "Timing out after" in line:
            return line[:300].replace("\t", " ")
    found = [l for l in lines if ERROR_LINE.match(l) and "exited with error code" not in l]
    line = found[-1] if found else (lines[0] if lines else "")
    return line[:300].replace("\t", " ")


def main():
    junit, tsv, backend, version, seconds = sys.argv[1:6]
    rows = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name")
        result, why = "pass", ""
        for child in case:
            if child.tag == "skipped":
                result, why = "skip", (child.get("message") or "").splitlines()[0][:300] if child.get("message") else ""
            elif child.tag in ("failure", "error"):
                result, why = "fail", first_error_line(child)
        rows.append((name, result, why))
    rows.sort()
    with open(tsv, "w") as f:
        f.write("test\tresult\tfirst error line\n")
        for row in rows:
            f.write("\t".join(row) + "\n")
    counts = {k: sum(1 for r in rows if r[1] == k) for k in ("pass", "skip", "fail")}
    print(f"{backend} torch {version} world size 3: {len(rows)} tests, "
          f"{counts['pass']} pass, {counts['skip']} skip, {counts['fail']} fail ({seconds} s)")
    print(f"table: {tsv}")


if __name__ == "__main__":
    main()
