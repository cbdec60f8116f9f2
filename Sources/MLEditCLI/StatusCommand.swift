// `mledit status`: where HEAD is, the base model and whether its file is still the one the
// ledger recorded, and the size of the lineage. When the base model file is missing or differs,
// it prints the status and then fails with the reason (exit 1), so scripts notice.
import Foundation
import MLEdit
import Tensors
import Ledger

enum StatusCommand {
    static let spec = CommandSpec(
        name: "status",
        abstract: "Show the current branch, HEAD, the base model and the size of the lineage.",
        discussion: "Exits with 1 after printing when the base model file is missing or its SHA-256 differs from the recorded one.",
        options: [OptionSpec(["--json"], help: "Print the status as JSON.")],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let repository = try RepositoryLocator.require(console)
        let head = try repository.head()
        let headID = head.commitID
        let headRecord = try headID.map { try repository.commit($0) }
        let base: BaseModelRecord
        if let headRecord {
            base = try repository.baseModel(id: headRecord.baseModelID)
        } else if let first = try repository.baseModels().first {
            base = first
        } else {
            throw CommandFailure("\(repository.ledgerURL.path): the ledger records no base model")
        }
        var baseFailure: String?
        let baseState: String
        do {
            try VersionLoader.verify(base)
            baseState = "ok"
        } catch let failure as MLEditError {
            baseFailure = failure.description
            baseState = FileManager.default.fileExists(atPath: base.path) ? "differs" : "missing"
        }
        let lineageCount = try headID.map { try repository.lineage(of: $0).count } ?? 0
        let factsInForce = try headID.map { try repository.facts(inLineageOf: $0).count } ?? 0
        let totalCommits = try repository.commitCount()

        if arguments.flag("--json") {
            var out: [String: Any] = [
                "branch": RevisionFormatting.currentBranch(head) ?? NSNull(), "detached": RevisionFormatting.currentBranch(head) == nil,
                "head": headID ?? NSNull(), "commits_in_lineage": lineageCount, "commits_in_repository": totalCommits,
                "facts_in_force": factsInForce, "repository": repository.root.path,
                "base_model": ["path": base.path, "sha256": base.sha256, "format": base.format,
                               "architecture": base.architecture, "file": baseState] as [String: Any],
            ]
            if let headRecord { out["head_message"] = headRecord.message }
            out["blas"] = BLASKernels.summary(environment: console.environment)
            try console.printJSON(out)
        } else {
            switch head {
            case .branch(let name, _): console.print("On branch \(RevisionFormatting.shortBranchName(name))")
            case .detached(let id): console.print("HEAD detached at \(RevisionFormatting.short(id))")
            }
            if let headRecord {
                console.print("HEAD: \(headRecord.id) \(RevisionFormatting.subject(headRecord.message))")
            } else {
                console.print("No commits yet")
            }
            let fileText: String
            switch baseState {
            case "ok": fileText = "present, SHA-256 matches"
            case "missing": fileText = "MISSING"
            default: fileText = "SHA-256 DIFFERS from the recorded \(base.sha256.prefix(12))…"
            }
            console.print("Base model: \(base.path) (\(base.format), \(base.architecture))")
            console.print("  file: \(fileText)")
            console.print("Commits: \(lineageCount) in the lineage of HEAD, \(totalCommits) in the repository")
            console.print("Facts in force: \(factsInForce)")
            console.print("BLAS: \(BLASKernels.summary(environment: console.environment))")
        }
        if let baseFailure { throw CommandFailure(baseFailure) }
    }
}
