"""Renders bench/out/*.json into the generated section of bench/RESULTS.md, keeping the notes."""
import datetime
import json
import pathlib
import sys

out_dir, results_path, machine = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
begin, end = "<!-- BEGIN GENERATED: bench/run.sh -->", "<!-- END GENERATED -->"

lines = [begin, "", f"Machine: {machine}. Date: {datetime.date.today().isoformat()}. "
         "Command: `make bench` (bench/run.sh; each benchmark in its own process, release build, OPENBLAS_NUM_THREADS=1).", ""]
for path in sorted(out_dir.glob("*.json")):
    figures = json.loads(path.read_text())
    lines += [f"### {path.stem}", "", "| figure | value |", "|---|---|"]
    for key in sorted(figures):
        value = figures[key]
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, (list, dict)):
            value = "`" + json.dumps(value) + "`"
        lines.append(f"| {key} | {value} |")
    lines.append("")
lines.append(end)
generated = "\n".join(lines)

text = results_path.read_text() if results_path.exists() else "# Benchmark results\n\n" + begin + "\n" + end + "\n"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    text = head + generated + tail
else:
    text += "\n" + generated + "\n"
results_path.write_text(text)
