// `mledit eval`: the CounterFact metrics of a model version on a facts file (efficacy,
// paraphrase and neighbourhood scores and magnitudes, greedy top-1), printed and, when the
// version is a commit of a repository, stored in the ledger under (commit, SHA-256 of the file).
// The computation is MLEdit's Evaluation; this file loads, calls and prints.
import Foundation
import MLEdit
import Ledger
import Solvers

enum EvalCommand {
    static let spec = CommandSpec(
        name: "eval",
        abstract: "Measure how a version of the model states the facts in FACTS (CounterFact metrics).",
        discussion: """
        For each fact, " " + target_new and " " + target_true are scored after the rewrite, paraphrase and neighbourhood \
        prompts (p = exp(−mean per-token NLL), teacher-forced). Efficacy: share of facts with p(new) > p(true) on the \
        rewrite prompt; magnitude: mean p(new) − p(true). Paraphrase: per fact the share of paraphrase prompts with \
        p(new) > p(true), averaged over facts. Neighbourhood: the same with p(true) > p(new) on the neighbourhood \
        prompts. Top-1: share of facts whose target_new is the greedy continuation of the rewrite prompt (the only \
        measure for facts without target_true). Inside a repository the metrics of a commit are stored in the ledger, \
        keyed by the commit and the SHA-256 of FACTS; a new evaluation of the same pair replaces the old.
        """,
        arguments: [ArgumentSpec("FACTS", help: "Facts file: JSONL, EasyEdit or CounterFact records (JSONL or a JSON array).")],
        options: [
            OptionSpec(["--at"], value: "REV", help: "Inside a repository: the version to evaluate (default HEAD)."),
            OptionSpec(["--model"], value: "PATH", help: "Evaluate this checkpoint as it is on disk instead (results are not stored)."),
            OptionSpec(["--limit"], value: "N", help: "Evaluate only the first N facts of the file."),
            OptionSpec(["--json"], help: "Print the metrics and one entry per fact as JSON."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let factsURL = console.url(forPath: arguments.positionals[0])
        let limit = try arguments.integer("--limit")
        if let limit, limit < 1 { throw UsageError("--limit must be at least 1", command: "eval") }
        if arguments.value("--model") != nil, arguments.value("--at") != nil {
            throw UsageError("--at selects a version of the repository's model; it cannot be combined with --model", command: "eval")
        }
        var requests = try Workspace.facts(file: factsURL, allowDuplicates: true)
        let total = requests.count
        if let limit, limit < requests.count { requests = Array(requests.prefix(limit)) }
        let digest = try SHA256.hash(fileAt: factsURL).hex

        let loaded = try ModelResolution.loadModel(path: arguments.value("--model"), revision: arguments.value("--at"), console: console)
        console.note("evaluating \(requests.count) of \(total) facts on \(loaded.version.map { "version \(RevisionFormatting.short($0))" } ?? loaded.url.path)")
        let started = Date()
        let report = try Evaluation.counterFact(requests, model: loaded.model, tokenizer: loaded.tokenizer, session: console.session)
        let seconds = Date().timeIntervalSince(started)

        var metrics = report.jsonObject(includeFacts: true)
        metrics["dataset"] = factsURL.lastPathComponent
        metrics["dataset_sha256"] = digest
        metrics["limit"] = limit ?? NSNull()
        metrics["version"] = loaded.version ?? NSNull()
        var stored = false
        if let version = loaded.version, let repository = try RepositoryLocator.find(console: console, required: false) {
            let data = try JSONSerialization.data(withJSONObject: metrics, options: [.sortedKeys])
            try repository.putEvaluation(commit: version, datasetDigest: digest,
                                         metrics: try JSONValue(parsing: String(decoding: data, as: UTF8.self), field: "metrics"))
            stored = true
        }

        if arguments.flag("--json") {
            metrics["model"] = loaded.url.path
            metrics["seconds"] = seconds
            metrics["stored"] = stored
            try console.printJSON(metrics)
            return
        }
        printSummary(report, console: console)
        console.print(String(format: "%d fact%@ in %.1f s", report.count, report.count == 1 ? "" : "s", seconds))
        if stored, let version = loaded.version {
            console.print("stored for \(RevisionFormatting.short(version)) (dataset \(digest.prefix(12)))")
        } else if loaded.version == nil, arguments.value("--model") == nil,
                  try RepositoryLocator.find(console: console, required: false) != nil {
            console.print("not stored: the branch has no commit yet")
        }
    }

    static func printSummary(_ report: EvaluationReport, console: Console) {
        func percent(_ value: Double?) -> String {
            value.map { String(format: "%6.1f%%", $0 * 100) } ?? "    n/a"
        }
        func signed(_ value: Double?) -> String {
            value.map { String(format: "  (magnitude %+.4f)", $0) } ?? ""
        }
        let compared = report.countWithTargetTrue
        console.print("efficacy      \(percent(report.efficacy))\(signed(report.efficacyMagnitude))")
        console.print("paraphrase    \(percent(report.paraphrase))\(signed(report.paraphraseMagnitude))")
        console.print("neighborhood  \(percent(report.neighborhood))\(signed(report.neighborhoodMagnitude))")
        console.print("score         \(percent(report.score))")
        console.print("top-1         \(percent(report.top1))")
        if compared < report.count {
            console.print("(\(report.count - compared) of \(report.count) facts have no target_true: top-1 only, \(percent(report.top1WithoutTargetTrue)) of them)")
        }
    }
}
