// `mledit tag`: list tags, create a tag at a revision, or delete one. Tags never move once made.
import Foundation
import Ledger

enum TagCommand {
    static let spec = CommandSpec(
        name: "tag",
        abstract: "List, create or delete tags.",
        discussion: "Without arguments, lists the tags. With NAME, tags REV (default HEAD); a tag never moves.",
        arguments: [ArgumentSpec("NAME", optional: true, help: "The tag to create."),
                    ArgumentSpec("REV", optional: true, help: "The commit to tag (default HEAD).")],
        options: [
            OptionSpec(["--delete", "-d"], value: "NAME", help: "Delete tag NAME."),
            OptionSpec(["--json"], help: "List the tags as JSON."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let repository = try RepositoryLocator.require(console)
        if let doomed = arguments.value("--delete") {
            guard arguments.positionals.isEmpty else { throw UsageError("-d takes no other arguments", command: "tag") }
            let full = try Repository.tagRefName(doomed)
            guard let id = try repository.refCommit(full) else { throw CommandFailure("tag '\(doomed)' not found") }
            try repository.deleteTag(full)
            console.print("Deleted tag \(doomed) (was \(RevisionFormatting.short(id))).")
            return
        }
        if let name = arguments.positional(0) {
            let full = try Repository.tagRefName(name)
            if try repository.refCommit(full) != nil { throw CommandFailure("a tag named '\(name)' already exists") }
            let target: String
            if let revision = arguments.positional(1) {
                target = try RevisionFormatting.resolve(revision, in: repository)
            } else {
                guard let head = try repository.head().commitID else {
                    throw CommandFailure("cannot tag '\(name)': HEAD has no commits yet")
                }
                target = head
            }
            try repository.createTag(full, at: target)
            console.print("Tagged \(RevisionFormatting.short(target)) as \(name).")
            return
        }
        let tags = try repository.tags()
        if arguments.flag("--json") {
            try console.printJSON(tags.map { ["name": $0.shortName, "commit": $0.commitID] as [String: Any] })
            return
        }
        for tag in tags { console.print(tag.shortName) }
    }
}
