// `mledit fsck`: check the whole ledger (SQLite integrity, commit ids recomputed, every blob
// decoded and checksummed, refs) and list the problems. It repairs nothing; --drop-caches only
// removes derived data.
import Foundation
import MLEdit
import Ledger

enum FsckCommand {
    static let spec = CommandSpec(
        name: "fsck",
        abstract: "Check the ledger's integrity: commit ids, delta checksums, statistics, refs, base model digests.",
        discussion: "Prints 'ok' when the ledger is sound; otherwise lists the problems on standard output and exits with 1.",
        options: [
            OptionSpec(["--json"], help: "Print {\"ok\": …, \"problems\": [{\"object\", \"message\"}]}."),
            OptionSpec(["--drop-caches"], help: "First drop the memory sums the ledger caches for long histories (derived data, rebuilt when needed)."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let workspace = Workspace(repository: try RepositoryLocator.require(console), session: console.session)
        if arguments.flag("--drop-caches") {
            try workspace.dropCaches(lockWait: try WriterLockOption.wait(arguments, command: "fsck"))
            console.note("dropped the cached memory sums")
        }
        let problems = try workspace.fsck()
        if arguments.flag("--json") {
            try console.printJSON([
                "ok": problems.isEmpty,
                "problems": problems.map { ["object": $0.object, "message": $0.message] },
            ] as [String: Any])
        } else if problems.isEmpty {
            console.print("ok")
        } else {
            for problem in problems { console.print(problem.description) }
        }
        if !problems.isEmpty {
            throw CommandFailure("\(problems.count) problem\(problems.count == 1 ? "" : "s") found")
        }
    }
}
