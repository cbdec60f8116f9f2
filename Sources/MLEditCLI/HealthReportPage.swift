// The HTML page `mledit report` writes: one self-contained file (inline CSS and SVG, no script,
// no external assets) with the history as a graph (commits as nodes, parent edges, branch and tag
// labels, each commit's efficacy and retention), charts of the probe perplexity, the general-
// knowledge accuracy, the cumulative delta norms and efficacy/retention along one lineage, and a
// table of that lineage. Rendering
// only: the metrics come from HealthCheck.
import Foundation
import MLEdit
import Ledger

struct HealthReportPage {
    /// Every commit of the repository.
    var commits: [CommitRecord]
    /// The lineage the charts follow, newest first (as `Repository.lineage(of:)` returns it).
    var lineage: [CommitRecord]
    var metrics: [String: HealthMetrics]
    /// Per commit id, its branch and tag labels (`RevisionFormatting.decorations`).
    var decorations: [String: [String]]
    var repositoryPath: String
    var revision: String
    var generatedAt: Date = Date()
    /// Marks a page as mledit's, so that a later report may replace it.
    static let generatorTag = #"<meta name="generator" content="mledit report">"#

    /// Whether `url` is a page `mledit report` wrote.
    static func isPage(_ url: URL) -> Bool {
        guard let handle = try? FileHandle(forReadingFrom: url) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 4096)) ?? Data()
        return String(decoding: head, as: UTF8.self).contains(generatorTag)
    }

    private static let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]

    func render() -> String {
        let tip = lineage.first?.id ?? ""
        var html = """
            <!DOCTYPE html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            \(Self.generatorTag)
            <title>mledit report — \(escape(RevisionFormatting.short(tip)))</title>
            <style>
            body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; }
            h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
            .meta { color: #666; }
            svg { background: #fcfcfc; border: 1px solid #ddd; display: block; margin: 8px 0; }
            svg text { font: 12px system-ui, sans-serif; fill: #222; }
            .edge { stroke: #888; stroke-width: 2; fill: none; }
            .commit { fill: #fff; stroke: #555; stroke-width: 2; }
            .commit.in-lineage { fill: #1f77b4; stroke: #1f77b4; }
            .commit.tip { stroke: #d62728; stroke-width: 3; }
            svg text.ref { fill: #fff; font-weight: 600; }
            rect.ref { fill: #2ca02c; rx: 3; } rect.ref.tag { fill: #ff7f0e; } rect.ref.head { fill: #d62728; }
            svg text.figures { fill: #666; }
            .axis { stroke: #bbb; stroke-width: 1; } .series { fill: none; stroke-width: 2; }
            table { border-collapse: collapse; } td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; }
            td.message, th.message { text-align: left; } td.id { font-family: monospace; text-align: left; }
            </style>
            </head>
            <body>
            <h1>mledit report</h1>
            <p class="meta">Repository \(escape(repositoryPath)) · charts follow the lineage of \(escape(revision)) \
            (\(escape(RevisionFormatting.short(tip)))) · \(commits.count) commit\(commits.count == 1 ? "" : "s") · \
            generated \(escape(ISO8601DateFormatter().string(from: generatedAt)))</p>
            <p class="meta">Health is measured on a fixed probe: perplexity of \(metrics.values.first?.probeTokens ?? 0) tokens of ordinary prose; \
            efficacy is the share of a commit's facts whose target is teacher-forced top-1 at that commit, retention the share \
            of earlier facts in force that still are; delta norms are ‖Σ U Vᵀ‖ over the lineage per edited tensor. \
            \(knowledgeNote)</p>

            """
        html += "<h2>History</h2>\n" + historyGraph() + "\n"
        html += "<h2>Lineage of \(escape(revision))</h2>\n"
        html += perplexityChart() + knowledgeChart() + normChart() + shareChart() + lineageTable()
        html += "</body>\n</html>\n"
        return html
    }

    // MARK: - History graph

    /// Commits ordered so that every parent comes before its children (by time, then id).
    private func topologicalOrder() -> [CommitRecord] {
        let byID = Dictionary(commits.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let sorted = commits.sorted { $0.createdAt == $1.createdAt ? $0.id < $1.id : $0.createdAt < $1.createdAt }
        var placed = Set<String>()
        var order: [CommitRecord] = []
        for commit in sorted {
            var chain: [CommitRecord] = []
            var current: CommitRecord? = commit
            while let c = current, !placed.contains(c.id) {
                chain.append(c)
                placed.insert(c.id)
                current = c.parentID.flatMap { byID[$0] }
            }
            order += chain.reversed()
        }
        return order
    }

    private func historyGraph() -> String {
        let order = topologicalOrder()
        let inLineage = Set(lineage.map(\.id))
        let tip = lineage.first?.id
        // Lanes: a commit continues its parent's lane unless a sibling took it first.
        var lane: [String: Int] = [:]
        var laneTaken = Set<String>()
        var lanes = 0
        for commit in order {
            if let parent = commit.parentID, let parentLane = lane[parent], !laneTaken.contains(parent) {
                lane[commit.id] = parentLane
                laneTaken.insert(parent)
            } else {
                lane[commit.id] = lanes
                lanes += 1
                if let parent = commit.parentID { laneTaken.insert(parent) }
            }
        }
        let rowHeight = 34.0, laneWidth = 28.0, left = 20.0, top = 22.0
        let textX = left + Double(max(lanes, 1)) * laneWidth + 10
        let height = top * 2 + Double(max(order.count - 1, 0)) * rowHeight
        let row = Dictionary(order.enumerated().map { ($1.id, order.count - 1 - $0) }, uniquingKeysWith: { a, _ in a })
        func point(_ id: String) -> (x: Double, y: Double) {
            (left + Double(lane[id] ?? 0) * laneWidth, top + Double(row[id] ?? 0) * rowHeight)
        }
        var edges: [String] = [], nodes: [String] = [], labels: [String] = []
        // Labels are estimated at 7.5 px a character (12 px sans-serif); the figures column
        // starts after the longest label.
        func refWidth(_ text: String) -> Double { Double(text.count) * 7.5 + 10 }
        func labelText(_ commit: CommitRecord) -> String {
            "\(RevisionFormatting.short(commit.id)) \(RevisionFormatting.subject(commit.message)) [\(commit.kind.rawValue), \(commit.method)]"
        }
        let figuresX = textX + 20 + (order.map { commit in
            (decorations[commit.id] ?? []).reduce(0) { $0 + refWidth($1) + 6 } + Double(labelText(commit).count) * 7.5
        }.max() ?? 0)
        for commit in order {
            let (x, y) = point(commit.id)
            if let parent = commit.parentID, row[parent] != nil {
                let (px, py) = point(parent)
                let d = px == x ? "M \(f(px)) \(f(py)) L \(f(x)) \(f(y))"
                    : "M \(f(px)) \(f(py)) C \(f(px)) \(f(py - rowHeight / 2)) \(f(x)) \(f(y + rowHeight / 2)) \(f(x)) \(f(y))"
                edges.append("<path class=\"edge\" data-from=\"\(parent)\" data-to=\"\(commit.id)\" d=\"\(d)\"/>")
            }
            var classes = "commit"
            if inLineage.contains(commit.id) { classes += " in-lineage" }
            if commit.id == tip { classes += " tip" }
            let m = metrics[commit.id]
            let figures = m.map { m in
                "efficacy \(HealthFormat.share(m.commitFactsTop1, m.commitFacts)) · retention \(m.retentionText) · ppl \(HealthFormat.decimal(m.perplexity))"
                    + (m.knowledge.map { " · knowledge \($0.text)" } ?? "")
            } ?? "not measured"
            nodes.append("""
                <circle class="\(classes)" data-commit="\(commit.id)" cx="\(f(x))" cy="\(f(y))" r="7"><title>\(escape(commit.id))
                \(escape(commit.message))
                \(escape(figures))</title></circle>
                """)
            var labelX = textX
            for decoration in decorations[commit.id] ?? [] {
                let kind = decoration.hasPrefix("tag: ") ? "ref tag" : decoration.hasPrefix("HEAD") ? "ref head" : "ref branch"
                let width = refWidth(decoration)
                labels.append("<rect class=\"\(kind)\" x=\"\(f(labelX))\" y=\"\(f(y - 9))\" width=\"\(f(width))\" height=\"17\"/>"
                              + "<text class=\"\(kind)\" data-commit=\"\(commit.id)\" x=\"\(f(labelX + 4))\" y=\"\(f(y + 4))\">\(escape(decoration))</text>")
                labelX += width + 6
            }
            labels.append("<text class=\"label\" x=\"\(f(labelX))\" y=\"\(f(y + 4))\"><tspan font-family=\"monospace\">\(RevisionFormatting.short(commit.id))</tspan> "
                          + "\(escape(RevisionFormatting.subject(commit.message))) [\(escape(commit.kind.rawValue)), \(escape(commit.method))]</text>")
            labels.append("<text class=\"figures\" data-commit=\"\(commit.id)\" x=\"\(f(figuresX))\" y=\"\(f(y + 4))\">\(escape(figures))</text>")
        }
        let width = figuresX + 440
        return "<svg id=\"history-graph\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\">\n"
            + (edges + nodes + labels).joined(separator: "\n") + "\n</svg>\n"
    }

    // MARK: - Charts along the lineage

    /// The lineage oldest first; x = 1…n, x = 0 is the base model.
    private var oldestFirst: [CommitRecord] { lineage.reversed() }

    private func perplexityChart() -> String {
        var points: [(Double, Double)] = []
        if let root = oldestFirst.first, let base = metrics[root.id]?.basePerplexity { points.append((0, base)) }
        for (i, commit) in oldestFirst.enumerated() { if let m = metrics[commit.id] { points.append((Double(i + 1), m.perplexity)) } }
        return chart(id: "perplexity-chart", title: "Probe perplexity (x: commits along the lineage, 0 = base model)",
                     series: [("perplexity", Self.palette[0], points)], format: HealthFormat.decimal)
    }

    /// What the knowledge figures count, with the size of the base-known set of the charted lineage.
    private var knowledgeNote: String {
        let root = oldestFirst.first.flatMap { metrics[$0.id]?.knowledge }
        let known = root.map { " (here \($0.baseKnown) of \($0.candidates))" } ?? ""
        return "Knowledge accuracy is the share of general-knowledge facts the unedited base model answered top-1\(known) "
            + "that a version still answers, leaving out those an edit in force is about; at most "
            + "\(HealthCheck.knowledgeSampleSize) of them, evenly spaced, are checked."
    }

    private func knowledgeChart() -> String {
        var points: [(Double, Double)] = []
        // The base model knows every fact of its base-known set by construction.
        if let root = oldestFirst.first, let knowledge = metrics[root.id]?.knowledge, knowledge.baseKnown > 0 { points.append((0, 100)) }
        for (i, commit) in oldestFirst.enumerated() {
            if let accuracy = metrics[commit.id]?.knowledge?.accuracy { points.append((Double(i + 1), accuracy * 100)) }
        }
        return chart(id: "knowledge-chart", title: "General-knowledge accuracy: facts the base model knew, still top-1 (%)",
                     // Not fixed to 0–100: a loss of a few points is what the chart is for, so it zooms in.
                     series: [("knowledge", Self.palette[5], points)], format: { String(format: "%.1f%%", $0) })
    }

    private func normChart() -> String {
        let tensors = Set(oldestFirst.flatMap { metrics[$0.id]?.deltaNorms.keys.map { $0 } ?? [] }).sorted()
        var series: [(String, String, [(Double, Double)])] = []
        for (t, tensor) in tensors.enumerated() {
            var points: [(Double, Double)] = [(0, 0)]
            for (i, commit) in oldestFirst.enumerated() {
                if let m = metrics[commit.id] { points.append((Double(i + 1), m.deltaNorms[tensor] ?? 0)) }
            }
            series.append((tensor, Self.palette[t % Self.palette.count], points))
        }
        return chart(id: "norm-chart", title: "Cumulative delta norm ‖Σ U Vᵀ‖ per edited tensor", series: series, format: HealthFormat.decimal)
    }

    private func shareChart() -> String {
        var efficacy: [(Double, Double)] = [], retention: [(Double, Double)] = []
        for (i, commit) in oldestFirst.enumerated() {
            guard let m = metrics[commit.id] else { continue }
            if let e = m.efficacy { efficacy.append((Double(i + 1), e * 100)) }
            if let r = m.retention { retention.append((Double(i + 1), r * 100)) }
        }
        return chart(id: "retention-chart", title: "Efficacy of each commit's facts and retention of earlier facts (%)",
                     series: [("efficacy", Self.palette[2], efficacy), ("retention", Self.palette[3], retention)],
                     format: { String(format: "%.0f%%", $0) }, fixedRange: (0, 100))
    }

    /// A line chart: one polyline and its point markers per series, axes with min/max labels, a legend.
    private func chart(id: String, title: String, series: [(name: String, color: String, points: [(x: Double, y: Double)])],
                       format: (Double) -> String, fixedRange: (Double, Double)? = nil) -> String {
        let width = 760.0, height = 260.0, left = 70.0, right = 180.0, top = 30.0, bottom = 30.0
        let all = series.flatMap(\.points)
        let xMax = max(all.map(\.x).max() ?? 1, 1)
        var (yMin, yMax) = fixedRange ?? (min(all.map(\.y).min() ?? 0, 0), all.map(\.y).max() ?? 1)
        if fixedRange == nil, let low = all.map(\.y).min(), low > 0, let high = all.map(\.y).max(), high > 0, low / high > 0.5 {
            yMin = low - (high - low) * 0.1  // a perplexity that barely moves: zoom in instead of starting at 0
        }
        if yMax <= yMin { yMax = yMin + 1 }
        func x(_ v: Double) -> Double { left + v / xMax * (width - left - right) }
        func y(_ v: Double) -> Double { top + (1 - (v - yMin) / (yMax - yMin)) * (height - top - bottom) }
        var parts = ["<text x=\"\(f(left))\" y=\"18\">\(escape(title))</text>",
                     "<line class=\"axis\" x1=\"\(f(left))\" y1=\"\(f(height - bottom))\" x2=\"\(f(width - right))\" y2=\"\(f(height - bottom))\"/>",
                     "<line class=\"axis\" x1=\"\(f(left))\" y1=\"\(f(top))\" x2=\"\(f(left))\" y2=\"\(f(height - bottom))\"/>",
                     "<text x=\"\(f(left - 6))\" y=\"\(f(top + 4))\" text-anchor=\"end\">\(escape(format(yMax)))</text>",
                     "<text x=\"\(f(left - 6))\" y=\"\(f(height - bottom + 4))\" text-anchor=\"end\">\(escape(format(yMin)))</text>",
                     "<text x=\"\(f(left))\" y=\"\(f(height - 10))\">0</text>",
                     "<text x=\"\(f(width - right))\" y=\"\(f(height - 10))\" text-anchor=\"end\">\(Int(xMax))</text>"]
        for (index, s) in series.enumerated() {
            let coordinates = s.points.map { "\(f(x($0.x))),\(f(y($0.y)))" }.joined(separator: " ")
            parts.append("<polyline class=\"series\" data-series=\"\(escape(s.name))\" stroke=\"\(s.color)\" points=\"\(coordinates)\"/>")
            for p in s.points {
                parts.append("<circle class=\"point\" data-series=\"\(escape(s.name))\" cx=\"\(f(x(p.x)))\" cy=\"\(f(y(p.y)))\" r=\"3\" fill=\"\(s.color)\"><title>\(escape(s.name)) at \(Int(p.x)): \(escape(format(p.y)))</title></circle>")
            }
            let ly = top + 10 + Double(index) * 18
            parts.append("<rect x=\"\(f(width - right + 12))\" y=\"\(f(ly - 9))\" width=\"12\" height=\"12\" fill=\"\(s.color)\"/>"
                         + "<text class=\"legend\" x=\"\(f(width - right + 30))\" y=\"\(f(ly + 1))\">\(escape(s.name))</text>")
        }
        if all.isEmpty { parts.append("<text x=\"\(f(left + 20))\" y=\"\(f(height / 2))\">no data</text>") }
        return "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(f(width))\" height=\"\(f(height))\" viewBox=\"0 0 \(f(width)) \(f(height))\">\n"
            + parts.joined(separator: "\n") + "\n</svg>\n"
    }

    private func lineageTable() -> String {
        var rows = ["<table id=\"lineage-table\">",
                    "<tr><th>#</th><th class=\"message\">commit</th><th class=\"message\">message</th><th>facts</th><th>efficacy</th><th>retention</th><th>perplexity</th><th>change</th><th>knowledge</th><th>total ‖ΔW‖</th></tr>"]
        let byID = Dictionary(lineage.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        for (i, commit) in oldestFirst.enumerated() {
            let m = metrics[commit.id]
            let parent = commit.parentID.flatMap { byID[$0] }.flatMap { metrics[$0.id] }
            let cells: [String] = [String(i + 1), RevisionFormatting.short(commit.id), escape(RevisionFormatting.subject(commit.message)),
                         m.map { String($0.commitFacts) } ?? "",
                         m.map { HealthFormat.share($0.commitFactsTop1, $0.commitFacts) } ?? "",
                         m?.retentionText ?? "",
                         m.map { HealthFormat.decimal($0.perplexity) } ?? "",
                         m.flatMap { $0.perplexityChange(parent: parent) }.map(HealthFormat.percent) ?? "",
                         escape(m?.knowledge?.text ?? ""),
                         m.map { HealthFormat.decimal($0.totalDeltaNorm) } ?? ""]
            let classes = ["", "id", "message", "", "", "", "", "", "", ""]
            rows.append("<tr class=\"commit-row\" data-commit=\"\(commit.id)\">"
                        + zip(cells, classes).map { $1.isEmpty ? "<td>\($0)</td>" : "<td class=\"\($1)\">\($0)</td>" }.joined() + "</tr>")
        }
        rows.append("</table>")
        return rows.joined(separator: "\n") + "\n"
    }

    // MARK: - Text

    private func f(_ value: Double) -> String { String(format: "%.1f", value) }

    /// Text safe inside HTML/SVG elements and attribute values.
    func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
