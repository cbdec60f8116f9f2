"""Renders bench/out/*.json into the generated section of bench/RESULTS.md, keeping the notes.

`edit-quality`, `sequential` and `tiny-facts` become tables of their runs (and `sequential` also a
chart, sequential.svg, written next to the results file); every other benchmark a figure/value
table. Per-method parts of `sequential` (sequential-METHOD.json, merged by bench/run.sh) are not
rendered on their own. Usage: render.py OUT_DIR RESULTS.md MACHINE

`render.py --lifelong-chart OUT.svg RUN.jsonl...` draws the same chart from the checkpoint rows a
long `sequential` run writes (MLEDIT_BENCH_SEQUENTIAL_OUT), one series per file, named after it.
"""
import datetime
import html
import json
import math
import pathlib
import sys

METHOD_ORDER = ["rome", "memit", "emmet", "alphaedit"]
COLOURS = {"rome": "#9467bd", "memit": "#1f77b4", "emmet": "#d62728", "alphaedit": "#2ca02c"}
SPARE_COLOURS = ["#ff7f0e", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"]


def by_method(names):
    """The names in the usual method order, unknown ones after, alphabetically."""
    return sorted(names, key=lambda name: (METHOD_ORDER.index(name) if name in METHOD_ORDER else len(METHOD_ORDER), name))


def fixed(value, digits):
    """A number with `digits` decimals; an empty cell when missing."""
    if value is None or isinstance(value, bool) or not isinstance(value, (int, float)):
        return "" if value is None else str(value)
    return f"{value:.{digits}f}"


def short(value):
    """A hyperparameter such as λ or a clamp factor, without trailing zeros."""
    return "" if value is None else f"{value:g}" if isinstance(value, (int, float)) else str(value)


def layer_list(layers):
    """[3, 4, 5, 6, 7] as 3–7, other lists comma-separated."""
    if not layers:
        return ""
    if len(layers) > 1 and layers == list(range(layers[0], layers[-1] + 1)):
        return f"{layers[0]}–{layers[-1]}"
    return ",".join(str(layer) for layer in layers)


def scalar(key, value):
    """One top-level figure for the bullet list."""
    if value is None:
        return "none"
    if isinstance(value, float):
        if key.endswith("seconds") or key.endswith("_mib"):
            return f"{value:.1f}"
        return f"{value:.0f}" if key.endswith("per_second") else f"{value:.4g}"
    if isinstance(value, list):
        return ", ".join(scalar(key, item) for item in value)
    if isinstance(value, str) and "/" in value:
        return f"`{value}`"
    return str(value)


def bullets(figures, skip):
    """The scalar figures (and one level of nested objects) as a bullet list."""
    lines = []
    for key in sorted(figures):
        value = figures[key]
        if key in skip or value == "":
            continue
        if isinstance(value, dict):
            value = ", ".join(f"{inner} {scalar(inner, item)}" for inner, item in sorted(value.items()))
            lines.append(f"- {key}: {value}")
        else:
            lines.append(f"- {key}: {scalar(key, value)}")
    return lines + [""]


def table(header, rows):
    """A Markdown table; every column but the first right-aligned."""
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows] + [""]


def scores(figures):
    """Efficacy, paraphrase and neighbourhood of an evaluation, 3 decimals."""
    return [fixed(figures.get(key), 3) for key in ("efficacy", "paraphrase", "neighborhood")]


def edit_quality(figures):
    lines = bullets(figures, {"before", "runs", "order"})
    header = ["method", "layers", "batch", "edits", "efficacy", "paraphrase", "neighbourhood", "efficacy magnitude", "top-1",
              "prefixes s", "keys s (apart)", "targets s", "targets s/fact", "layers stage s", "solve s (est.)", "edit s", "λ", "clamp"]
    before = figures.get("before", {})
    rows = [["before (unedited)", "", "", ""] + scores(before)
            + [fixed(before.get("efficacy_magnitude"), 3), fixed(before.get("top1"), 3)] + [""] * 8]
    runs = figures.get("runs", {})
    order = figures.get("order", [])
    for name in order + sorted(set(runs) - set(order)):
        run = runs.get(name)
        if run is None:
            continue
        after = run.get("after", {})
        rows.append([run.get("method", name), layer_list(run.get("layers")), fixed(run.get("batch"), 0), fixed(run.get("edits"), 0)]
                    + scores(after) + [fixed(after.get("efficacy_magnitude"), 3), fixed(after.get("top1"), 3)]
                    + [fixed(run.get(key), 1) for key in ("prefixes_seconds", "keys_seconds_measured_apart", "targets_seconds",
                                                          "targets_seconds_per_fact", "layers_stage_seconds",
                                                          "solve_seconds_estimate", "edit_seconds")]
                    + [short(run.get("preservation_weight")), short(run.get("clamp_norm_factor"))])
    lines += table(header, rows)
    lines += ["Scores after all facts are edited (each run from the unedited model); seconds summed over all edits; "
              "keys s recomputes the keys apart to time them, solve s = layers stage − keys.", ""]
    return lines


def sequential(figures, chart_path):
    lines = bullets(figures, {"methods"})
    methods = figures.get("methods", {})
    header = ["method", "facts", "efficacy", "paraphrase", "neighbourhood", "top-1", "probe perplexity", "editing s so far"]
    rows = []
    for name in by_method(methods):
        for row in methods[name].get("rows", []):
            rows.append([name, fixed(row.get("facts"), 0)] + scores(row)
                        + [fixed(row.get("top1"), 3), fixed(row.get("probe_perplexity"), 3), fixed(row.get("edit_seconds_so_far"), 1)])
    lines += table(header, rows)
    chart_path.write_text(sequential_chart(figures))
    lines += [f"![sequential editing]({chart_path.name})", ""]
    for name in by_method(methods):
        method = methods[name]
        parts = [f"{method.get('facts_done', '?')} of {figures.get('facts_wanted', '?')} facts done"]
        if method.get("failure") is not None:
            parts.append(f"failure: {method['failure']}")
        parts.append(f"layers {layer_list(method.get('layers'))}, λ {short(method.get('preservation_weight'))}")
        parts.append(", ".join(f"{label} {fixed(method.get(key), 1)} s" for label, key in (
            ("targets", "targets_seconds"), ("layers stage", "layers_stage_seconds"), ("keys apart", "keys_seconds_measured_apart"))
            if key in method))
        if "peak_memory_mib" in method:
            parts.append(f"peak {fixed(method['peak_memory_mib'], 1)} MiB")
        lines.append(f"- {name}: " + "; ".join(part for part in parts if part))
    return lines + [""]


def tiny_facts(figures):
    lines = bullets(figures, {"before", "runs"})
    header = ["method", "efficacy", "paraphrase", "neighbourhood", "top-1", "v* top-1", "efficacy failures", "seconds", "layers", "λ", "clamp"]
    before = figures.get("before", {})
    rows = [["before (unedited)"] + scores(before) + [fixed(before.get("top1"), 3)] + [""] * 6]
    runs = figures.get("runs", {})
    for name in by_method(runs):
        run = runs[name]
        failures = run.get("efficacy_failures")
        rows.append([name] + scores(run) + [fixed(run.get("planner_top1"), 3), fixed(run.get("optimization_top1"), 3),
                                           "" if failures is None else str(len(failures)), fixed(run.get("seconds"), 1),
                                           layer_list(run.get("layers")), short(run.get("preservation_weight")),
                                           short(run.get("clamp_norm_factor"))])
    lines += table(header, rows)
    lines += ["Each batch is edited from the unedited fixture and scored right after its edit; "
              "v* top-1: the optimised target value alone makes the new object the top token.", ""]
    return lines


def generic(figures):
    lines = ["| figure | value |", "|---|---|"]
    for key in sorted(figures):
        value = figures[key]
        if isinstance(value, float):
            value = f"{value:.4g}"
        elif isinstance(value, (list, dict)):
            value = "`" + json.dumps(value) + "`"
        lines.append(f"| {key} | {value} |")
    return lines + [""]


def nice_ticks(low, high, count=5):
    """Round tick values covering [low, high]."""
    if high <= low:
        low, high = low - max(abs(low) * 0.01, 0.5), high + max(abs(high) * 0.01, 0.5)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    first, last = math.floor(low / step + 1e-9), math.ceil(high / step - 1e-9)
    return [round(i * step, 10) for i in range(first, last + 1)]


def sequential_chart(figures):
    """Scores and probe perplexity against facts edited, one colour per method, as plain SVG."""
    methods = figures.get("methods", {})
    names = by_method(methods)
    spare = iter(SPARE_COLOURS * 4)
    colour = {name: COLOURS.get(name) or next(spare) for name in names}
    facts_max = max([figures.get("facts_wanted") or 0]
                    + [row.get("facts", 0) for name in names for row in methods[name].get("rows", [])]) or 1
    x_ticks = nice_ticks(0, facts_max)
    perplexities = [row["probe_perplexity"] for name in names for row in methods[name].get("rows", [])
                    if isinstance(row.get("probe_perplexity"), (int, float))]
    p_ticks = nice_ticks(min(perplexities), max(perplexities)) if perplexities else [0, 1]
    p_log = bool(perplexities) and min(perplexities) > 0 and max(perplexities) / min(perplexities) > 20
    if p_log:  # a collapsing model: logarithmic axis with ticks at 1, 2 and 5 times powers of ten
        low, high = math.floor(math.log10(min(perplexities))), math.ceil(math.log10(max(perplexities)))
        p_ticks = [m * 10 ** k for k in range(low, high + 1) for m in (1, 2, 5)
                   if m == 1 or (k < high and min(perplexities) / 2 <= m * 10 ** k <= max(perplexities) * 2)]
    width, height, top, plot_w, plot_h = 1000, 420, 60, 380, 250
    lefts = [70, 570]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           'font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">Sequential editing: '
           f'{html.escape(pathlib.Path(str(figures.get("model", ""))).name)}, batches of {figures.get("batch", "?")} facts</text>']

    def panel(left, title, y_ticks, y_label, series, log=False):
        scale = math.log10 if log else (lambda value: value)
        y_low, y_high = scale(y_ticks[0]), scale(y_ticks[-1])
        x_of = lambda facts: left + plot_w * facts / x_ticks[-1]
        y_of = lambda value: top + plot_h * (1 - (scale(value) - y_low) / (y_high - y_low))
        out.append(f'<text x="{left + plot_w / 2}" y="{top - 12}" text-anchor="middle" font-size="13">{html.escape(title)}</text>')
        for value in y_ticks:
            y = y_of(value)
            out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e5e5e5"/>')
            out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>')
        for value in x_ticks:
            x = x_of(value)
            out.append(f'<line x1="{x:.1f}" y1="{top + plot_h}" x2="{x:.1f}" y2="{top + plot_h + 5}" stroke="black"/>')
            out.append(f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="middle">{value:g}</text>')
        out.append(f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>')
        out.append(f'<text x="{left + plot_w / 2}" y="{top + plot_h + 36}" text-anchor="middle">facts edited</text>')
        out.append(f'<text transform="translate({left - 48},{top + plot_h / 2}) rotate(-90)" text-anchor="middle">{html.escape(y_label)}</text>')
        clip = f"panel{left}"
        out.append(f'<clipPath id="{clip}"><rect x="{left - 4}" y="{top - 4}" width="{plot_w + 8}" height="{plot_h + 8}"/></clipPath>')
        out.append(f'<g clip-path="url(#{clip})">')
        for points, stroke, dash in series:
            if not points:
                continue
            path = " ".join(f"{x_of(facts):.1f},{y_of(value):.1f}" for facts, value in points)
            dashing = f' stroke-dasharray="{dash}"' if dash else ""
            out.append(f'<polyline points="{path}" fill="none" stroke="{stroke}" stroke-width="2"{dashing}/>')
            out.extend(f'<circle cx="{x_of(facts):.1f}" cy="{y_of(value):.1f}" r="3" fill="{stroke}"/>' for facts, value in points)
        out.append("</g>")

    def points(name, key):
        return [(row["facts"], row[key]) for row in methods[name].get("rows", [])
                if isinstance(row.get(key), (int, float)) and isinstance(row.get("facts"), (int, float))]

    styles = [("efficacy", "efficacy", ""), ("paraphrase", "paraphrase", "7 4"), ("neighbourhood", "neighborhood", "2 3")]
    panel(lefts[0], "CounterFact scores on all facts edited so far", [0, 0.2, 0.4, 0.6, 0.8, 1], "score",
          [(points(name, key), colour[name], dash) for name in names for _, key, dash in styles])
    panel(lefts[1], f"Perplexity of a {figures.get('probe_tokens', '?')}-token probe text", p_ticks,
          "probe perplexity (log scale)" if p_log else "probe perplexity",
          [(points(name, "probe_perplexity"), colour[name], "") for name in names], log=p_log)

    legend_y, x = height - 42, lefts[0]
    for name in names:
        label = name
        if methods[name].get("failure") is not None:
            label += f" (stopped at {methods[name].get('facts_done', '?')} facts)"
        out.append(f'<line x1="{x}" y1="{legend_y - 4}" x2="{x + 24}" y2="{legend_y - 4}" stroke="{colour[name]}" stroke-width="3"/>')
        out.append(f'<text x="{x + 30}" y="{legend_y}">{html.escape(label)}</text>')
        x += 44 + 7 * len(label)
    legend_y, x = height - 18, lefts[0]
    out.append(f'<text x="{x}" y="{legend_y}">scores:</text>')
    x += 56
    for label, _, dash in styles:
        dashing = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(f'<line x1="{x}" y1="{legend_y - 4}" x2="{x + 24}" y2="{legend_y - 4}" stroke="black" stroke-width="2"{dashing}/>')
        out.append(f'<text x="{x + 30}" y="{legend_y}">{label}</text>')
        x += 44 + 7 * len(label)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    out_dir, results_path, machine = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), sys.argv[3]
    begin, end = "<!-- BEGIN GENERATED: bench/run.sh -->", "<!-- END GENERATED -->"
    lines = [begin, "", f"Machine: {machine}. Date: {datetime.date.today().isoformat()}. "
             "Command: `make bench` (bench/run.sh; each benchmark in its own process, release build, OPENBLAS_NUM_THREADS=1).", ""]
    for path in sorted(out_dir.glob("*.json")):
        if path.stem.startswith("sequential-"):
            continue
        figures = json.loads(path.read_text())
        lines += [f"### {path.stem}", ""]
        if path.stem == "edit-quality":
            lines += edit_quality(figures)
        elif path.stem == "sequential":
            lines += sequential(figures, results_path.parent / "sequential.svg")
        elif path.stem == "tiny-facts":
            lines += tiny_facts(figures)
        else:
            lines += generic(figures)
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


def lifelong_chart(out_path, run_paths):
    methods = {}
    for path in run_paths:
        rows = [json.loads(line) for line in pathlib.Path(path).read_text().splitlines() if line.strip()]
        name = pathlib.Path(path).stem.removeprefix("sequential-")
        methods[name] = {"rows": rows}
    figures = {"methods": methods, "model": "SmolLM2-135M-Instruct.Q4_1.gguf", "batch": 100, "probe_tokens": 300}
    pathlib.Path(out_path).write_text(sequential_chart(figures))


if len(sys.argv) > 1 and sys.argv[1] == "--lifelong-chart":
    lifelong_chart(sys.argv[2], sys.argv[3:])
else:
    main()
