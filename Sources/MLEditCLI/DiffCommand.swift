// `mledit diff`: what differs between two versions: the facts in force (added, removed,
// superseded — by subject and prompt), per edited tensor the Frobenius norm and rank of the
// weight difference (from the low-rank factors of the commits the two lineages do not share),
// and with --behaviour the greedy continuation of each affected fact's prompt under both.
// It reads the ledger and runs the model; it never writes.
import Foundation
import Ledger
import MLEdit

enum DiffCommand {
    static let spec = CommandSpec(
        name: "diff",
        abstract: "Show the facts and weights that differ between two versions.",
        discussion: """
        Facts are matched by subject and prompt: a fact in force at REV2 but not at REV1 is added, one at REV1 but not \
        at REV2 is removed, and one whose target or commit differs is superseded. For every edited tensor, the \
        difference of the two versions' weights is Σ U Vᵀ over the commits only REV2 has minus the same over the commits \
        only REV1 has; its Frobenius norm and numerical rank are computed from the factors. --behaviour loads the model \
        and prints the greedy continuation of each affected fact's prompt under both versions.
        """,
        arguments: [ArgumentSpec("REV1", help: "The old version (commit id, prefix, branch, tag, HEAD~N)."),
                    ArgumentSpec("REV2", help: "The new version.")],
        options: [
            OptionSpec(["--behaviour", "--behavior"], help: "Also compare the greedy continuations of the affected facts' prompts."),
            OptionSpec(["--tokens"], value: "N", help: "Continuation length for --behaviour (default 3)."),
            OptionSpec(["--json"], help: "Print the difference as JSON."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let tokenCount = try arguments.integer("--tokens") ?? 3
        guard tokenCount >= 1 else { throw UsageError("--tokens must be at least 1", command: "diff") }
        let workspace = Workspace(repository: try RepositoryLocator.require(console), session: console.session)
        let diff = try workspace.diff(arguments.positionals[0], arguments.positionals[1],
                                      behaviourTokens: arguments.flag("--behaviour") ? tokenCount : nil)
        let (old, new, facts, tensors) = (diff.old, diff.new, diff.facts, diff.tensors)
        if arguments.flag("--json") {
            var out: [String: Any] = [
                "from": old, "to": new, "same_base_model": diff.sameBaseModel,
                "facts": facts.json,
                "tensors": diff.sameBaseModel ? tensors.map(\.json) as Any : NSNull(),
            ]
            if let behaviour = diff.behaviour { out["behaviour"] = behaviour.map(\.json) }
            try console.printJSON(out)
            return
        }
        console.print("diff \(RevisionFormatting.short(old)) → \(RevisionFormatting.short(new))")
        console.print("facts: \(facts.added.count) added, \(facts.removed.count) removed, \(facts.superseded.count) superseded")
        for record in facts.removed { console.print("  - \(describe(record.fact))  (\(RevisionFormatting.short(record.commitID)) #\(record.ordinal))") }
        for record in facts.added { console.print("  + \(describe(record.fact))  (\(RevisionFormatting.short(record.commitID)) #\(record.ordinal))") }
        for (before, after) in facts.superseded {
            console.print("  ~ \(quoted(before.fact)): \(before.fact.targetNew) → \(after.fact.targetNew)  (\(RevisionFormatting.short(before.commitID)) #\(before.ordinal) → \(RevisionFormatting.short(after.commitID)) #\(after.ordinal))")
        }
        if !diff.sameBaseModel {
            console.print("weights: the versions are on different base models; the weight difference is not a sum of deltas")
        } else if tensors.isEmpty {
            console.print("weights: identical")
        } else {
            console.print("weights:")
            for tensor in tensors {
                console.print(String(format: "  %@  layer %d  %d×%d  ‖ΔW‖_F %.6g  rank %d", tensor.tensor, tensor.layer,
                                     tensor.difference.rows, tensor.difference.cols, tensor.difference.frobeniusNorm, tensor.difference.rank))
            }
        }
        if let behaviour = diff.behaviour {
            console.print("behaviour (greedy, \(tokenCount) token\(tokenCount == 1 ? "" : "s")):")
            if behaviour.isEmpty { console.print("  no affected facts") }
            for change in behaviour {
                console.print("  \(change.prompt)")
                console.print("    \(RevisionFormatting.short(old)): \(change.oldText.debugDescription)")
                console.print("    \(RevisionFormatting.short(new)): \(change.newText.debugDescription)\(change.changed ? "" : "  (same)")")
            }
        }
    }

    static func quoted(_ fact: Fact) -> String {
        fact.filledPrompt.debugDescription
    }

    static func describe(_ fact: Fact) -> String {
        "\(quoted(fact)) → \(fact.targetNew)\(fact.targetTrue.map { " (was \($0))" } ?? "")"
    }
}

extension VersionDiff.FactChanges {
    var json: [String: Any] {
        [
            "added": added.map(Self.json), "removed": removed.map(Self.json),
            "superseded": superseded.map { ["subject": $0.0.fact.subject, "prompt": $0.0.fact.prompt,
                                             "from": Self.json($0.0), "to": Self.json($0.1)] as [String: Any] },
        ]
    }

    static func json(_ record: FactRecord) -> [String: Any] {
        ["subject": record.fact.subject, "prompt": record.fact.prompt, "target_new": record.fact.targetNew,
         "target_true": record.fact.targetTrue ?? NSNull(), "commit": record.commitID, "ordinal": record.ordinal]
    }
}

extension VersionDiff.TensorDifference {
    var json: [String: Any] {
        ["tensor": tensor, "layer": layer, "rows": difference.rows, "cols": difference.cols,
         "frobenius_norm": difference.frobeniusNorm, "rank": difference.rank,
         "singular_values": difference.singularValues, "commits_added": commitsAdded, "commits_removed": commitsRemoved]
    }
}

extension VersionDiff.BehaviourChange {
    var json: [String: Any] {
        ["prompt": prompt, "changed": changed,
         "from": ["ids": oldIDs, "text": oldText] as [String: Any], "to": ["ids": newIDs, "text": newText] as [String: Any]]
    }
}
