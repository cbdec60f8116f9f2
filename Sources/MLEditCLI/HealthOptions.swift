// The health check as the command line offers it: `mledit commit`'s limits and `--no-health`,
// and the lines `mledit log --health` prints under each commit. The measuring is MLEdit's
// HealthCheck.
import Foundation
import Ledger
import MLEdit

extension HealthCheck {
    /// The options `mledit commit` takes for the check.
    static let commitOptions = [
        OptionSpec(["--max-perplexity-increase"], value: "X",
                   help: "Warn when the probe perplexity rises by more than X relative to the parent (default 0.1; 'off' disables)."),
        OptionSpec(["--max-norm-growth"], value: "X",
                   help: "Warn when a tensor's cumulative delta norm grows by more than X relative to the parent (default 1.0; 'off' disables)."),
        OptionSpec(["--no-health"], help: "Do not measure the health of the new version (no warnings)."),
    ]

    /// The option `mledit log` takes to show health.
    static let logOption = OptionSpec(
        ["--health"], help: "Show each commit's probe perplexity, general-knowledge accuracy, efficacy, retention of earlier facts and cumulative delta norms (measured and stored when missing; with --json, as each commit's \"health\").")

    /// The limits given on the command line, defaults for those not given; nil when `--no-health`.
    /// - Throws: `UsageError` for a value that is neither a number ≥ 0 nor `off`.
    static func limits(_ arguments: ParsedArguments) throws -> HealthLimits? {
        if arguments.flag("--no-health") { return nil }
        func limit(_ name: String, _ fallback: Double?) throws -> Double? {
            guard let text = arguments.value(name) else { return fallback }
            if text == "off" { return nil }
            guard let value = Double(text), value.isFinite, value >= 0 else {
                throw UsageError("option \(name) expects a number ≥ 0 or 'off', got '\(text)'", command: arguments.command)
            }
            return value
        }
        return HealthLimits(maxPerplexityIncrease: try limit("--max-perplexity-increase", HealthLimits.defaults.maxPerplexityIncrease),
                            maxNormGrowth: try limit("--max-norm-growth", HealthLimits.defaults.maxNormGrowth))
    }

    // MARK: - mledit log --health

    /// The metrics `log --health` shows for `lineage`: its commits' and their parents' (the
    /// reference of each change). Measures and stores what is missing.
    /// - Throws: ledger errors, base-model errors, `SolverError`.
    static func logMetrics(repository: Repository, lineage: [CommitRecord], console: Console) throws -> [String: HealthMetrics] {
        try metrics(of: lineage.map(\.id) + lineage.compactMap(\.parentID), repository: repository, session: console.session)
    }

    /// Per commit of `lineage` (newest first, as `log` prints it), the lines to print under its
    /// header: `Health:` (perplexity and its change, efficacy, retention), `Knowledge:` (general-
    /// knowledge accuracy and its change) and `Norms:` (cumulative delta norm per tensor and its
    /// growth). Measures and stores what is missing, parents included.
    /// - Throws: ledger errors, base-model errors, `SolverError`.
    static func logLines(repository: Repository, lineage: [CommitRecord], console: Console) throws -> [String: [String]] {
        logLines(lineage: lineage, metrics: try logMetrics(repository: repository, lineage: lineage, console: console))
    }

    /// The lines of `logLines(repository:lineage:console:)` from metrics already measured.
    static func logLines(lineage: [CommitRecord], metrics: [String: HealthMetrics]) -> [String: [String]] {
        var out: [String: [String]] = [:]
        for record in lineage {
            guard let m = metrics[record.id] else { continue }
            let parent = record.parentID.flatMap { metrics[$0] }
            var health = "perplexity \(HealthFormat.decimal(m.perplexity))"
            if let change = m.perplexityChange(parent: parent) {
                health += " (\(HealthFormat.percent(change)) vs \(parent == nil ? "base" : "parent"))"
            }
            health += ", efficacy \(HealthFormat.share(m.commitFactsTop1, m.commitFacts))"
            health += ", retention \(m.retentionText)"
            var lines = ["Health:   \(health)"]
            if let knowledge = m.knowledge {
                var line = "Knowledge: \(knowledge.text)"
                // Against the parent, or for a root against the base model, which knows all of them.
                let reference = record.parentID == nil ? 1.0 : parent?.knowledge?.accuracy
                if let accuracy = knowledge.accuracy, let reference {
                    let points = ((accuracy - reference) * 1000).rounded() / 10 + 0.0  // + 0.0: no "-0.0"
                    line += String(format: " (%+.1f points vs %@)", points, record.parentID == nil ? "base" : "parent")
                }
                lines.append(line)
            }
            let growth = m.normGrowth(parent: parent)
            let norms = m.deltaNorms.sorted { $0.key < $1.key }.map { tensor, norm in
                "\(tensor) \(HealthFormat.decimal(norm))" + (growth[tensor].map { " (\(HealthFormat.percent($0)))" } ?? " (new)")
            }
            if !norms.isEmpty { lines.append("Norms:    \(norms.joined(separator: ", "))") }
            out[record.id] = lines
        }
        return out
    }

}
