// `mledit show`: everything one commit records: header, facts, method and hyperparameters,
// context prefixes, per-tensor deltas (shape, rank, norm, stored size) and, for a revert or a
// rebase, the commit it refers to. Reads metadata only: blobs are not decoded (fsck does that).
import Foundation
import MLEdit
import Ledger
import Solvers

enum ShowCommand {
    static let spec = CommandSpec(
        name: "show",
        abstract: "Show a commit: its facts, method, hyperparameters and deltas.",
        arguments: [ArgumentSpec("REV", optional: true, help: "The commit (default HEAD).")],
        options: [
            OptionSpec(["--stat"], help: "The header and message, then one line per edited tensor and a summary (like git show --stat)."),
            OptionSpec(["--json"], help: "Print the commit as JSON."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let repository = try RepositoryLocator.require(console)
        let id = try RevisionFormatting.resolve(arguments.positional(0) ?? "HEAD", in: repository)
        let summary = try CommitSummary(try repository.commit(id), repository: repository)
        let record = summary.record
        let facts = try repository.facts(of: id)
        let referenced = try (record.revertedCommitID ?? record.sourceCommitID).map { try repository.commit($0) }

        if arguments.flag("--json") {
            var out = summary.json
            out["hyperparameters"] = try RevisionFormatting.foundationObject(record.hyperparameters)
            out["context_prefixes"] = record.contextPrefixes
            out["fact_list"] = facts.map(factJSON)
            out["deltas"] = summary.deltas.map { delta -> [String: Any] in
                ["tensor": delta.tensor, "layer": delta.layer, "shape": [delta.rows, delta.cols], "rank": delta.rank,
                 "dtype": delta.precision.rawValue, "norm": delta.norm, "stored_bytes": delta.storedBytes, "sha256": delta.checksum]
            }
            if let referenced {
                out["referenced_commit"] = ["id": referenced.id, "message": referenced.message, "method": referenced.method]
            }
            try console.printJSON(out)
            return
        }

        let decorations = try RevisionFormatting.decorations(repository)
        let decoration = decorations[id].map { " (\($0.joined(separator: ", ")))" } ?? ""
        for line in LogCommand.header(summary, decoration: decoration, repository: repository) { console.print(line) }
        console.print()
        for line in record.message.split(separator: "\n", omittingEmptySubsequences: false) { console.print("    \(line)") }
        if let referenced {
            console.print()
            let verb = record.kind == .revert ? "Reverted" : "Replayed"
            console.print("\(verb) commit \(RevisionFormatting.short(referenced.id)): \(RevisionFormatting.subject(referenced.message)) [\(referenced.method)]")
        }

        if arguments.flag("--stat") {
            console.print()
            for line in statLines(summary, facts: facts.count) { console.print(line) }
            return
        }

        if let verification = record.verification,
           let stored = try? JSONDecoder().decode(VerificationRecord.self, from: Data(verification.canonicalText().utf8)) {
            console.print()
            console.print("Verification (\(stored.rounds) round\(stored.rounds == 1 ? "" : "s")):")
            for line in CommitCommand.verificationLines(stored.facts, leftOut: stored.leftOut) { console.print(line) }
        }

        console.print()
        console.print("Facts (\(facts.count)):")
        if facts.isEmpty { console.print("  (none)") }
        for record in facts { console.print("  " + factLine(record)) }

        console.print()
        console.print("Method: \(record.method)")
        console.print("Hyperparameters:")
        if let object = record.hyperparameters.objectValue, !object.isEmpty {
            for key in object.keys.sorted() {
                console.print("  \(key): \((try? object[key]?.canonicalText()) ?? "?")")
            }
        } else {
            console.print("  \(try record.hyperparameters.canonicalText())")
        }
        console.print("Context prefixes: \(record.contextPrefixes.count)")

        console.print()
        console.print("Deltas (\(summary.deltas.count), \(RevisionFormatting.bytes(summary.storedBytes)) stored):")
        let rows = summary.deltas.map { delta in
            [delta.tensor, "\(delta.rows)×\(delta.cols)", "\(delta.rank)", String(format: "%.4g", delta.norm),
             delta.precision.rawValue, RevisionFormatting.bytes(delta.storedBytes)]
        }
        for line in table(header: ["tensor", "shape", "rank", "norm", "dtype", "stored"], rows: rows) { console.print("  " + line) }
    }

    /// ` tensor | rank r, ‖Δ‖ n, size` per delta, then the totals.
    static func statLines(_ summary: CommitSummary, facts: Int) -> [String] {
        let width = summary.deltas.map(\.tensor.count).max() ?? 0
        var lines = summary.deltas.map { delta in
            " " + delta.tensor.padding(toLength: width, withPad: " ", startingAt: 0)
                + " | rank \(delta.rank), ‖Δ‖ \(String(format: "%.4g", delta.norm)), \(RevisionFormatting.bytes(delta.storedBytes))"
        }
        let tensors = summary.deltas.count
        lines.append(" \(facts) fact\(facts == 1 ? "" : "s"), \(tensors) tensor\(tensors == 1 ? "" : "s") changed, total rank \(summary.totalRank), \(RevisionFormatting.bytes(summary.storedBytes)) stored")
        return lines
    }

    static func factLine(_ record: FactRecord) -> String {
        let fact = record.fact
        let prompt = fact.prompt.replacingOccurrences(of: "{}", with: fact.subject)
        var line = "\(record.ordinal). \(prompt) → \(fact.targetNew)"
        if let old = fact.targetTrue { line += " (was \(old))" }
        var extras: [String] = []
        if !fact.paraphrases.isEmpty { extras.append("\(fact.paraphrases.count) paraphrase\(fact.paraphrases.count == 1 ? "" : "s")") }
        if !fact.neighborhood.isEmpty { extras.append("\(fact.neighborhood.count) neighborhood prompt\(fact.neighborhood.count == 1 ? "" : "s")") }
        if let superseded = record.supersedes {
            extras.append("supersedes fact \(superseded.ordinal) of \(RevisionFormatting.short(superseded.commitID))")
        }
        if !extras.isEmpty { line += " [\(extras.joined(separator: "; "))]" }
        return line
    }

    static func factJSON(_ record: FactRecord) -> [String: Any] {
        var out: [String: Any] = [
            "ordinal": record.ordinal, "subject": record.fact.subject, "prompt": record.fact.prompt,
            "target_new": record.fact.targetNew, "target_true": record.fact.targetTrue ?? NSNull(),
            "paraphrases": record.fact.paraphrases, "neighborhood": record.fact.neighborhood,
        ]
        if let superseded = record.supersedes {
            out["supersedes"] = ["commit": superseded.commitID, "ordinal": superseded.ordinal]
        }
        return out
    }

    /// Left-aligned columns separated by two spaces.
    static func table(header: [String], rows: [[String]]) -> [String] {
        let all = [header] + rows
        var widths = Array(repeating: 0, count: header.count)
        for row in all { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        return all.map { row in
            row.enumerated().map { i, cell in
                i == row.count - 1 ? cell : cell + String(repeating: " ", count: widths[i] - cell.count)
            }.joined(separator: "  ")
        }
    }
}
