// `mledit revert`: a new commit that takes the edit of an earlier commit out while every later
// commit's facts stay memorized (Workspace.revert).
import Foundation
import MLEdit

enum RevertCommand {
    static let spec = CommandSpec(
        name: "revert",
        abstract: "Take the edit of a commit out, keeping the facts of later commits.",
        arguments: [ArgumentSpec("REV", help: "The commit to revert (id, prefix, branch, tag, HEAD~N).")],
        options: [
            WriterLockOption.spec,
            OptionSpec(["--message", "-m"], value: "MSG", help: "Commit message (default: Revert \"<message of REV>\")."),
            OptionSpec(["--author"], value: "NAME", help: "Author (default: $MLEDIT_AUTHOR, else $USER)."),
            OptionSpec(["--corpus"], value: "PATH", repeatable: true, help: "Corpus for preservation statistics, when they are not cached."),
            OptionSpec(["--no-verify"], help: "Do not check afterwards that the facts in force land and the reverted facts answer as before."),
            OptionSpec(["--json"], help: "Print the new commit as JSON."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let workspace = Workspace(repository: try RepositoryLocator.require(console), session: console.session)
        var options = HistoryOptions()
        options.lockWait = try WriterLockOption.wait(arguments, command: "revert")
        options.message = arguments.value("--message")
        options.author = arguments.value("--author")
        options.verify = !arguments.flag("--no-verify")
        options.corpus = arguments.values("--corpus").isEmpty ? nil : arguments.values("--corpus").map { console.url(forPath: $0).path }
        let outcome = try workspace.revert(arguments.positionals[0], options: options)
        let deltas = outcome.deltas
        if arguments.flag("--json") {
            var object: [String: Any] = ["id": outcome.record.id, "reverted": outcome.revertedID,
                                         "resolved_commits": outcome.resolvedCommits, "layers": deltas.map(\.layer), "rank": outcome.rank]
            if let verification = outcome.verification { object["verification"] = verification.jsonObject }
            try console.printJSON(object)
            return
        }
        console.print("[\(RevisionFormatting.branchLabel(outcome.head)) \(outcome.record.id.prefix(10))] \(outcome.record.message)")
        let later = outcome.resolvedCommits.count
        console.print(" reverted \(outcome.revertedID.prefix(10)); re-solved \(later) commit\(later == 1 ? "" : "s") on top, rank \(outcome.rank) over \(deltas.count) tensor\(deltas.count == 1 ? "" : "s")")
        if let verification = outcome.verification { console.print(" verified: \(verification.summary)") }
    }
}
