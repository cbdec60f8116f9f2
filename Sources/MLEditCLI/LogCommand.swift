// `mledit log`: the lineage of a revision, newest first, git-like (a `commit <id>` header per
// commit) or one line per commit, or JSON. It reads the ledger only; it never loads a model.
import Foundation
import MLEdit
import Ledger

enum LogCommand {
    static let spec = CommandSpec(
        name: "log",
        abstract: "Show the commits of a lineage, newest first.",
        discussion: """
        For each commit: id, parent, author, date, kind, method, number of facts, edited tensors with their total rank and \
        stored size, the efficacy measured at commit time and, when evaluations were stored, the latest evaluated efficacy. \
        REV is a full id, a prefix of 4 or more hex digits, a branch, a tag, HEAD, or any of these followed by ~N.
        """,
        arguments: [ArgumentSpec("REV", optional: true, help: "Where the lineage starts (default HEAD).")],
        options: [
            OptionSpec(["--max-count", "-n"], value: "N", help: "Show at most N commits."),
            OptionSpec(["--oneline"], help: "One line per commit: short id, message, method, number of facts."),
            OptionSpec(["--format", "--pretty"], value: "FORMAT", help: "Each commit as FORMAT: \(LogFormatting.placeholders)."),
            OptionSpec(["--graph"], help: "Every commit reachable from a branch, tag or HEAD (or REV's lineage), one line each, with the history drawn as lanes."),
            OptionSpec(["--json"], help: "Print a JSON array of commits."),
            HealthCheck.logOption,
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let limit = try arguments.integer("--max-count")
        if let limit, limit < 0 { throw UsageError("-n must be at least 0", command: "log") }
        let json = arguments.flag("--json")
        let repository = try RepositoryLocator.require(console)
        let start: String
        if let revision = arguments.positional(0) {
            start = try RevisionFormatting.resolve(revision, in: repository)
        } else {
            let head = try repository.head()
            guard let id = head.commitID else {
                if json {
                    try console.printJSON([Any]())
                } else {
                    console.print("No commits yet on branch \(RevisionFormatting.currentBranch(head) ?? "HEAD").")
                }
                return
            }
            start = id
        }
        var lineage = try repository.lineage(of: start)
        if arguments.flag("--graph") && arguments.positional(0) == nil {
            lineage = try reachableCommits(repository)
        }
        if let limit { lineage = Array(lineage.prefix(limit)) }
        let summaries = try lineage.map { try CommitSummary($0, repository: repository) }
        let metrics = arguments.flag("--health") ? try HealthCheck.logMetrics(repository: repository, lineage: lineage, console: console) : [:]
        let health = HealthCheck.logLines(lineage: lineage, metrics: metrics)
        if json {
            try console.printJSON(try summaries.map { summary in
                var object = summary.json
                if let m = metrics[summary.record.id] { object["health"] = try RevisionFormatting.foundationObject(m.json) }
                return object
            })
            return
        }
        let decorations = try RevisionFormatting.decorations(repository)
        func decoration(_ id: String) -> String {
            decorations[id].map { " (" + console.paint($0.joined(separator: ", "), .green) + ")" } ?? ""
        }
        func oneLine(_ summary: CommitSummary) throws -> String {
            let record = summary.record
            if let format = arguments.value("--format") { return Console.escapingControls(try LogFormatting.render(format, summary)) }
            let facts = "\(summary.factCount) fact\(summary.factCount == 1 ? "" : "s")"
            return console.paint(RevisionFormatting.short(record.id), .yellow) + decoration(record.id) + " "
                + Console.escapingControls("\(RevisionFormatting.subject(record.message)) [\(record.method), \(facts)]")
        }
        if arguments.flag("--graph") {
            var texts: [String: String] = [:]
            for summary in summaries { texts[summary.record.id] = try oneLine(summary) }
            let order = LogFormatting.topologicalOrder(summaries.map(\.record))
            for line in LogFormatting.graph(order, text: { texts[$0.id] ?? "" }, paint: { console.paint($0, .bold) }) {
                console.printPainted(line)
            }
            return
        }
        for (index, summary) in summaries.enumerated() {
            if arguments.flag("--oneline") || arguments.value("--format") != nil {
                console.printPainted(try oneLine(summary))
                continue
            }
            if index > 0 { console.print() }
            var lines = header(summary, decoration: "", repository: repository).map(Console.escapingControls)
            lines[0] = console.paint("commit \(summary.record.id)", .yellow) + decoration(summary.record.id)
            for line in lines { console.printPainted(line) }
            for line in health[summary.record.id] ?? [] { console.print(line) }
            console.print()
            for line in summary.record.message.split(separator: "\n", omittingEmptySubsequences: false) { console.print("    \(line)") }
        }
    }

    /// Every commit reachable from a branch, a tag or HEAD, newest first.
    static func reachableCommits(_ repository: Repository) throws -> [CommitRecord] {
        var tips = try repository.branches().map(\.commitID) + repository.tags().map(\.commitID)
        if let head = try repository.head().commitID { tips.append(head) }
        var seen = Set<String>()
        var out: [CommitRecord] = []
        for tip in tips {
            for record in try repository.lineage(of: tip) {
                if !seen.insert(record.id).inserted { break }
                out.append(record)
            }
        }
        return out.sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
    }

    /// The lines above the message: `commit <id>`, then one field per line.
    static func header(_ summary: CommitSummary, decoration: String, repository: Repository) -> [String] {
        let record = summary.record
        var lines = ["commit \(record.id)\(decoration)"]
        lines.append("Parent:   \(record.parentID ?? "(root)")")
        if let reverted = record.revertedCommitID { lines.append("Reverts:  \(reverted)") }
        if let source = record.sourceCommitID { lines.append("Replays:  \(source)") }
        lines.append("Author:   \(record.author)")
        lines.append("Date:     \(RevisionFormatting.date(record.createdAt))")
        lines.append("Kind:     \(record.kind.rawValue), method \(record.method)")
        lines.append("Changes:  \(summary.figuresLine)")
        if !summary.deltas.isEmpty { lines.append("Tensors:  \(summary.deltas.map(\.tensor).joined(separator: ", "))") }
        if let efficacy = summary.efficacyLine { lines.append("Efficacy: \(efficacy)") }
        return lines
    }
}
