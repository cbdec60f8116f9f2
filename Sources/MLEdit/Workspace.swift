// The MLEdit library's front door: a repository of edits of a base model, and what a program does
// with it. Every operation here is one call: it reads and writes the ledger (one transaction per
// commit), runs the solver, and reports notes and progress through the caller's `Session`; it
// never prints. The command line is a thin shell over this API (parse → call → print).
import Foundation
import Ledger
import Models
import Solvers

public final class Workspace {
    /// The ledger: history, refs, facts, deltas and caches.
    public let repository: Repository
    public var session: Session

    public init(repository: Repository, session: Session = .quiet) {
        self.repository = repository
        self.session = session
    }

    /// The repository at `directory` or the nearest folder above it that holds one.
    /// - Throws: `LedgerError.repositoryNotFound`, ledger errors.
    public static func open(at directory: URL, session: Session = .quiet) throws -> Workspace {
        Workspace(repository: try Repository.discover(from: directory), session: session)
    }

    /// A new repository at `directory` recording the base model at `model` (a .gguf file, a
    /// .safetensors file beside its config.json, or a folder holding both).
    /// - Throws: `MLEditError` (.conflict when a repository is already there, .notFound for the
    ///   model), model and ledger errors.
    public static func create(model: URL, at directory: URL, initialBranch: String = Repository.defaultBranch,
                              session: Session = .quiet) throws -> Workspace {
        let ledger = Repository.ledgerURL(in: directory)
        if FileManager.default.fileExists(atPath: ledger.path), (try? Repository.open(at: directory)) != nil {
            throw MLEditError(.conflict, "a repository already exists at \(ledger.path)")
        }
        let checkpoint = try BaseModels.checkpointFile(model)
        session.note("hashing \(checkpoint.path)")
        let draft = try BaseModels.draft(for: checkpoint)
        do {
            let repository = try Repository.create(at: directory, baseModel: draft, initialBranch: initialBranch)
            return Workspace(repository: repository, session: session)
        } catch LedgerError.repositoryExists(let path) {
            throw MLEditError(.conflict, "a repository already exists at \(path)")
        }
    }

    /// The base model an unborn branch stands on, as the ledger records it (its file unchecked).
    public var baseModel: BaseModelRecord {
        get throws {
            guard let record = try repository.baseModels().last else {
                throw MLEditError(.damaged, "\(repository.ledgerURL.path): the ledger records no base model")
            }
            return record
        }
    }

    /// The commit a revision names; nil for "HEAD" on an unborn branch.
    public func commitID(_ revision: String) throws -> String? {
        try repository.commitID(revision: revision)
    }

    /// Runs `body` holding the repository's writer lock, waiting up to `wait` seconds for another
    /// writer (a note names it while waiting).
    func writing<T>(wait: TimeInterval, _ body: () throws -> T) throws -> T {
        let lock = try repository.acquireWriterLock(timeout: wait) { [session] holder in
            guard wait > 0 else { return }
            let who = holder.map { "process \($0)" } ?? "another mledit process"
            session.note("waiting up to \(Int(wait.rounded(.up))) s for \(who), which is writing to this repository…")
        }
        return try withExtendedLifetime(lock) { try body() }
    }

    /// The default author of new commits: $MLEDIT_AUTHOR, else $USER, else "unknown".
    var defaultAuthor: String {
        session.environment["MLEDIT_AUTHOR"] ?? session.environment["USER"] ?? "unknown"
    }

    /// The metrics of the health probe for each of `commitIDs`: stored ones read back, missing
    /// ones measured and stored.
    public func health(of commitIDs: [String]) throws -> [String: HealthMetrics] {
        try HealthCheck.metrics(of: commitIDs, repository: repository, session: session)
    }

    /// The ledger's own checks (`Repository.fsck`) and every base model file against its recorded
    /// SHA-256.
    public func fsck() throws -> [FsckProblem] {
        var problems = try repository.fsck()
        for record in try repository.baseModels() {
            do {
                try VersionLoader.verify(record)
            } catch {
                problems.append(FsckProblem(object: "base model #\(record.id)", message: MLEditError.oneLine(error)))
            }
        }
        return problems
    }

    /// Drops the memory sums the ledger caches for long histories (derived data, rebuilt when needed).
    public func dropCaches(lockWait: TimeInterval = 180) throws {
        try writing(wait: lockWait) { try repository.dropMemoryGrams() }
    }

    /// The model at `revision` ("HEAD" on an unborn branch: the base model), ready to run, able
    /// to move to other versions of the same base model.
    public func model(at revision: String = "HEAD") throws -> VersionedModel {
        VersionedModel(context: try EditContext.load(repository: repository, parentID: try commitID(revision), session: session))
    }
}

/// One loaded model that moves between versions of a repository: only the edited tensors change.
public struct VersionedModel {
    var context: EditContext

    public var model: any TransformerModel { context.model }
    public var tokenizer: Tokenizer { context.tokenizer }
    /// The commit whose weights the model carries (nil: the base model).
    public var version: String? { context.parentID }
    public var baseModel: BaseModelRecord { context.baseModel }

    /// Sets the weights to those of `commitID` (nil: the base model).
    /// - Throws: `MLEditError(.damaged)` when the history does not fit the model; ledger errors.
    public mutating func move(to commitID: String?) throws { try context.moveTo(commitID) }
}

/// Base model files: which file identifies a checkpoint, and its ledger record.
package enum BaseModels {
    /// The file whose bytes identify a checkpoint: the path itself, or model.safetensors of a folder.
    package static func checkpointFile(_ url: URL) throws -> URL {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw MLEditError(.notFound, "\(url.path): no such file or directory")
        }
        if isDirectory.boolValue {
            let file = url.appendingPathComponent("model.safetensors")
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw MLEditError(.invalidInput, "\(url.path): a model folder must hold model.safetensors and config.json")
            }
            return file.standardizedFileURL
        }
        return url.standardizedFileURL.resolvingSymlinksInPath()
    }

    /// Hashes the checkpoint at `file` and reads its configuration.
    package static func draft(for file: URL) throws -> BaseModelDraft {
        let (configuration, _, _) = try ModelLoader.open(url: file)
        let digest = try SHA256.hash(fileAt: file).hex
        return BaseModelDraft(path: file.path, sha256: digest, format: ModelResolution.isGGUF(file) ? "gguf" : "safetensors",
                              architecture: configuration.architecture.rawValue,
                              configuration: try JSONValue(encoding: configuration, field: "configuration"))
    }
}
