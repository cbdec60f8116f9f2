// `mledit branch`: list branches (the current one marked `*`), create one at a revision, or
// delete one. Creating does not switch to it (that is `checkout -b`).
import Foundation
import Ledger

enum BranchCommand {
    static let spec = CommandSpec(
        name: "branch",
        abstract: "List, create or delete branches.",
        discussion: "Without arguments, lists the branches with '*' on the current one. With NAME, creates branch NAME at REV (default HEAD).",
        arguments: [ArgumentSpec("NAME", optional: true, help: "The branch to create."),
                    ArgumentSpec("REV", optional: true, help: "Where the new branch points (default HEAD).")],
        options: [
            OptionSpec(["--delete", "-d"], value: "NAME", help: "Delete branch NAME (not the current one)."),
            OptionSpec(["--json"], help: "List the branches as JSON."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let repository = try RepositoryLocator.require(console)
        if let doomed = arguments.value("--delete") {
            guard arguments.positionals.isEmpty else { throw UsageError("-d takes no other arguments", command: "branch") }
            let full = try Repository.branchRefName(doomed)
            guard let id = try repository.refCommit(full) else { throw CommandFailure("branch '\(doomed)' not found") }
            try repository.deleteBranch(full)
            console.print("Deleted branch \(doomed) (was \(RevisionFormatting.short(id))).")
            return
        }
        if let name = arguments.positional(0) {
            let full = try Repository.branchRefName(name)
            if try repository.refCommit(full) != nil { throw CommandFailure("a branch named '\(name)' already exists") }
            let target: String
            if let revision = arguments.positional(1) {
                target = try RevisionFormatting.resolve(revision, in: repository)
            } else {
                guard let head = try repository.head().commitID else {
                    throw CommandFailure("cannot create branch '\(name)': HEAD has no commits yet")
                }
                target = head
            }
            try repository.createBranch(full, at: target)
            console.print("Created branch \(name) at \(RevisionFormatting.short(target)).")
            return
        }
        try list(repository: repository, json: arguments.flag("--json"), console: console)
    }

    static func list(repository: Repository, json: Bool, console: Console) throws {
        let head = try repository.head()
        let current = RevisionFormatting.currentBranch(head)
        let branches = try repository.branches()
        if json {
            try console.printJSON(branches.map { branch -> [String: Any] in
                ["name": branch.shortName, "commit": branch.commitID, "current": branch.shortName == current]
            })
            return
        }
        if case .detached(let id) = head { console.print("* (HEAD detached at \(RevisionFormatting.short(id)))") }
        if let current, !branches.contains(where: { $0.shortName == current }) {
            console.print("* \(current) (no commits yet)")
        }
        let width = branches.map(\.shortName.count).max() ?? 0
        for branch in branches {
            let marker = branch.shortName == current ? "*" : " "
            let message = try RevisionFormatting.subject(repository.commit(branch.commitID).message)
            let padded = branch.shortName + String(repeating: " ", count: width - branch.shortName.count)
            console.print("\(marker) \(padded)  \(RevisionFormatting.short(branch.commitID)) \(message)")
        }
    }
}
