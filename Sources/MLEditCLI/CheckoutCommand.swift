// `mledit checkout`: move HEAD, with git's semantics: a branch name attaches HEAD to the branch,
// any other revision detaches it; `-b NAME` creates a branch first. Before moving, every delta of
// the target's lineage is decoded and checked against its checksum, so HEAD never lands on a
// version that cannot be built. It does not load or write model weights.
import Foundation
import Ledger

enum CheckoutCommand {
    static let spec = CommandSpec(
        name: "checkout",
        abstract: "Switch HEAD to a branch (attached) or to any other revision (detached).",
        discussion: "With -b NAME, creates branch NAME at REV (default HEAD) and switches to it.",
        arguments: [ArgumentSpec("REV", optional: true, help: "A branch name, or any revision to detach HEAD at.")],
        options: [OptionSpec(["-b"], value: "NAME", help: "Create branch NAME at REV (default HEAD) and switch to it.")],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let repository = try RepositoryLocator.require(console)
        if let newBranch = arguments.value("-b") {
            try createAndSwitch(newBranch, at: arguments.positional(0), repository: repository, console: console)
            return
        }
        guard let revision = arguments.positional(0) else {
            throw UsageError("missing argument REV (or -b NAME)", command: "checkout")
        }
        let old = try repository.head()
        if let branchRef = try? Repository.branchRefName(revision), let target = try repository.refCommit(branchRef),
           !revision.contains("~"), !revision.contains("^") {
            try verifyLineage(of: target, repository: repository)
            if case .branch(let current, _) = old, current == branchRef {
                console.print("Already on '\(RevisionFormatting.shortBranchName(branchRef))'")
                return
            }
            try repository.checkout(branch: branchRef)
            console.print("Switched to branch '\(RevisionFormatting.shortBranchName(branchRef))'")
            return
        }
        let id = try RevisionFormatting.resolve(revision, in: repository)
        try verifyLineage(of: id, repository: repository)
        try repository.detachHead(at: id, message: "checkout: moving from \(describe(old)) to \(revision)")
        let record = try repository.commit(id)
        console.note("You are in 'detached HEAD' state; 'mledit checkout -b NAME' keeps commits made here on a branch.")
        console.print("HEAD is now at \(RevisionFormatting.short(id)) \(RevisionFormatting.subject(record.message))")
    }

    static func createAndSwitch(_ name: String, at revision: String?, repository: Repository, console: Console) throws {
        let full = try Repository.branchRefName(name)
        if try repository.refCommit(full) != nil { throw CommandFailure("a branch named '\(name)' already exists") }
        let target: String?
        if let revision {
            target = try RevisionFormatting.resolve(revision, in: repository)
        } else {
            target = try repository.head().commitID
        }
        if let target {
            try verifyLineage(of: target, repository: repository)
            try repository.createBranchAndCheckout(full, at: target)
        } else {
            // Unborn HEAD: the new branch is unborn too until its first commit.
            try repository.checkout(branch: full, allowUnborn: true)
        }
        console.print("Switched to a new branch '\(name)'")
    }

    /// Decodes every delta of the lineage of `id` and checks its checksum.
    /// - Throws: `CommandFailure` naming the damaged delta and the commit.
    static func verifyLineage(of id: String, repository: Repository) throws {
        do {
            _ = try repository.lineageDecodedDeltas(at: id)
        } catch let error as LedgerError {
            throw CommandFailure("version \(RevisionFormatting.short(id)) cannot be built: \(error.description); run 'mledit fsck'")
        }
    }

    static func describe(_ head: HeadState) -> String {
        switch head {
        case .branch(let name, _): RevisionFormatting.shortBranchName(name)
        case .detached(let id): RevisionFormatting.short(id)
        }
    }
}
