"""junit.xml of a dist-suite run -> results.tsv (test, result, first error line) and a summary.

    python results.py JUNIT_XML RESULTS_TSV BACKEND TORCH_VERSION SECONDS
"""
import sys
import xml.etree.ElementTree as ET


def first_error_line(element):
    """The line of a failure that names the error (torch puts the ranks' tracebacks in the text)."""
    text = (element.get("message") or "") + "\n" + (element.text or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        # The rank's own exception, e.g. "RuntimeError: send is not supported by dlcoll"
        for marker in ("Error: ", "Exception: ", "Timeout", "timed out", "Timing out"):
            if marker in line and "Traceback" not in line:
                return line[:300].replace("\t", " ")
    return (lines[0] if lines else "")[:300].replace("\t", " ")


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
