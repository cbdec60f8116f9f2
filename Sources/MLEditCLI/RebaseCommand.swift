// `mledit rebase`: replay the current branch's commits onto another commit (re-solving each from
// its stored keys and target values), or the whole lineage onto another base checkpoint of the
// same architecture (recomputing statistics, keys and target values there). Replayed commits keep
// their facts, message and author, record the commit they came from, and get new ids; the branch
// moves once at the end, and the old commits stay reachable through the reflog.
import Foundation
import MLEdit

enum RebaseCommand {
    static let spec = CommandSpec(
        name: "rebase",
        abstract: "Replay the branch's edits onto another commit or another base model.",
        discussion: "Reverted commits and reverts are not replayed: the replayed history holds the facts in force. Facts with the subject and prompt of an upstream fact supersede it.",
        arguments: [ArgumentSpec("UPSTREAM", optional: true, help: "The commit to replay onto (not with --onto-model).")],
        options: [
            WriterLockOption.spec,
            OptionSpec(["--onto-model"], value: "PATH", help: "Replay the whole lineage onto this base checkpoint, re-computing every edit on it."),
            OptionSpec(["--corpus"], value: "PATH", repeatable: true, help: "Corpus for preservation statistics, when they are not cached."),
            OptionSpec(["--no-verify"], help: "Do not check afterwards that the facts in force still land."),
            OptionSpec(["--json"], help: "Print the replayed commits as JSON."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let workspace = Workspace(repository: try RepositoryLocator.require(console), session: console.session)
        var options = HistoryOptions()
        options.lockWait = try WriterLockOption.wait(arguments, command: "rebase")
        options.corpus = arguments.values("--corpus").isEmpty ? nil : arguments.values("--corpus").map { console.url(forPath: $0).path }
        options.verify = !arguments.flag("--no-verify")
        let outcome: RebaseOutcome
        var upstreamName = ""
        if let modelPath = arguments.value("--onto-model") {
            guard arguments.positionals.isEmpty else { throw UsageError("give UPSTREAM or --onto-model, not both", command: "rebase") }
            outcome = try workspace.rebase(ontoModel: console.url(forPath: modelPath), options: options)
        } else {
            guard let upstream = arguments.positional(0) else { throw UsageError("missing argument UPSTREAM (or --onto-model PATH)", command: "rebase") }
            outcome = try workspace.rebase(onto: upstream, options: options)
            upstreamName = upstream
        }
        switch outcome {
        case .upToDate:
            console.print("Current branch is up to date with \(upstreamName).")
        case .replayed(let branch, let oldHead, let commits, let ontoDescription, let verification):
            if arguments.flag("--json") {
                var object: [String: Any] = ["head": commits.last!.new.id, "commits": commits.map { ["source": $0.source.id, "id": $0.new.id] }]
                if let verification { object["verification"] = verification.jsonObject }
                try console.printJSON(object)
                return
            }
            for pair in commits {
                console.print("\(pair.source.id.prefix(10)) -> \(pair.new.id.prefix(10))  \(pair.new.message)")
            }
            let name = branch.replacingOccurrences(of: "refs/heads/", with: "")
            console.print("Rebased \(name) onto \(ontoDescription): \(commits.count) commit\(commits.count == 1 ? "" : "s") replayed; the old head \(oldHead.prefix(10)) is in the reflog.")
            if let verification { console.print("Verified: \(verification.summary).") }
        }
    }
}
