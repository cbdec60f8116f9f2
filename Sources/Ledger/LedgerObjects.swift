// The values the ledger stores and returns: base models, facts, commit drafts and records,
// delta and edit-vector inputs and records, refs, reflog entries, evaluations. Plain values;
// reading and writing them is Repository's job.
import Tensors

/// What a commit changes the model by.
public enum CommitKind: String, Sendable, CaseIterable, Codable {
    /// New facts solved on top of the parent.
    case edit
    /// Takes the facts of `revertedCommitID` out by re-solving without them.
    case revert
    /// Replays `sourceCommitID` (its facts, method and hyperparameters) onto a new parent or base.
    case rebase
}

/// A base model to register: a checkpoint referenced by path and digest.
public struct BaseModelDraft: Sendable, Equatable {
    public var path: String
    /// SHA-256 hex of the file (see `SHA256.hash(fileAt:)`).
    public var sha256: String
    /// "gguf" or "safetensors".
    public var format: String
    public var architecture: String
    public var configuration: JSONValue

    public init(path: String, sha256: String, format: String, architecture: String, configuration: JSONValue) {
        self.path = path
        self.sha256 = sha256
        self.format = format
        self.architecture = architecture
        self.configuration = configuration
    }
}

/// A registered base model.
public struct BaseModelRecord: Sendable, Equatable {
    public var id: Int64
    public var path: String
    public var sha256: String
    public var format: String
    public var architecture: String
    public var configuration: JSONValue
    public var addedAt: String
}

/// One fact: "{subject}" put into `prompt` should continue with `targetNew`.
public struct Fact: Sendable, Equatable, Hashable, Codable {
    public var subject: String
    /// The prompt with `{}` where the subject goes.
    public var prompt: String
    public var targetNew: String
    public var targetTrue: String?
    public var paraphrases: [String]
    public var neighborhood: [String]

    public init(subject: String, prompt: String, targetNew: String, targetTrue: String? = nil,
                paraphrases: [String] = [], neighborhood: [String] = []) {
        self.subject = subject
        self.prompt = prompt
        self.targetNew = targetNew
        self.targetTrue = targetTrue
        self.paraphrases = paraphrases
        self.neighborhood = neighborhood
    }

    enum CodingKeys: String, CodingKey {
        case subject, prompt, paraphrases, neighborhood
        case targetNew = "target_new"
        case targetTrue = "target_true"
    }

    /// The canonical JSON form hashed into commit ids.
    var canonicalJSON: JSONValue {
        .object([
            "subject": .string(subject), "prompt": .string(prompt), "target_new": .string(targetNew),
            "target_true": targetTrue.map { .string($0) } ?? .null,
            "paraphrases": .strings(paraphrases), "neighborhood": .strings(neighborhood),
        ])
    }
}

/// The low-rank change of one tensor, as the solver produced it (encoded on write).
public struct DeltaInput: Sendable {
    /// Checkpoint tensor name, e.g. "blk.7.ffn_down.weight".
    public var tensor: String
    public var layer: Int
    /// d_out × rank.
    public var u: Matrix<Double>
    /// d_in × rank.
    public var v: Matrix<Double>
    public var precision: DeltaPrecision

    public init(tensor: String, layer: Int, u: Matrix<Double>, v: Matrix<Double>, precision: DeltaPrecision = .f16) {
        self.tensor = tensor
        self.layer = layer
        self.u = u
        self.v = v
        self.precision = precision
    }
}

/// The keys and target values one tensor's solve used (stored lossless in Float64).
public struct EditVectors: Sendable, Equatable {
    public var tensor: String
    public var layer: Int
    /// K: d_in × n, one column per fact (in ordinal order).
    public var keys: Matrix<Double>
    /// V*: d_out × n.
    public var values: Matrix<Double>

    public init(tensor: String, layer: Int, keys: Matrix<Double>, values: Matrix<Double>) {
        self.tensor = tensor
        self.layer = layer
        self.keys = keys
        self.values = values
    }
}

/// The residual-stream targets an edit was solved towards: z (d_model × n, one column per fact in
/// ordinal order) after block `layer`, the last edit layer (stored lossless in Float64).
public struct EditTargets: Sendable, Equatable {
    public var layer: Int
    public var values: Matrix<Double>

    public init(layer: Int, values: Matrix<Double>) {
        self.layer = layer
        self.values = values
    }
}

/// UltraEdit's running statistics of one edit layer's features [k ‖ g] after a commit (schema
/// 005_ultraedit_statistics.sql): how many feature rows were seen, and their mean and population
/// variance (each of `mean.count` = d_in + d_out entries, the first `keyDimension` for the keys).
public struct LifelongStatisticsRecord: Sendable, Equatable {
    public var tensor: String
    public var layer: Int
    public var count: Int
    public var keyDimension: Int
    public var mean: [Double]
    public var variance: [Double]

    public init(tensor: String, layer: Int, count: Int, keyDimension: Int, mean: [Double], variance: [Double]) {
        self.tensor = tensor
        self.layer = layer
        self.count = count
        self.keyDimension = keyDimension
        self.mean = mean
        self.variance = variance
    }
}

/// Everything a new commit consists of. The id is computed from it (see `CommitIdentity`).
public struct CommitDraft: Sendable {
    public var parentID: String?
    /// `BaseModelRecord.id`; must equal the parent's base model.
    public var baseModelID: Int64
    public var kind: CommitKind
    public var method: String
    public var hyperparameters: JSONValue
    public var contextPrefixes: [String]
    public var facts: [Fact]
    public var deltas: [DeltaInput]
    public var editVectors: [EditVectors]
    /// The targets the edit was solved towards (edits made by the solver; nil for reverts).
    public var editTargets: EditTargets?
    /// UltraEdit's running statistics after this commit, for the layers whose statistics it changes.
    public var lifelongStatistics: [LifelongStatisticsRecord]
    public var message: String
    public var author: String
    /// Rebase only: the commit being replayed.
    public var sourceCommitID: String?
    /// Revert only: the commit being taken out (must be in the parent's lineage).
    public var revertedCommitID: String?
    /// Share of the facts that were top-1 right after the edit, if measured.
    public var efficacy: Double?
    /// What the verification after solving found (a JSON object), if it ran.
    public var verification: JSONValue?
    /// ISO 8601 UTC; nil means now.
    public var createdAt: String?

    public init(parentID: String?, baseModelID: Int64, kind: CommitKind = .edit, method: String,
                hyperparameters: JSONValue = .object([:]), contextPrefixes: [String] = [], facts: [Fact],
                deltas: [DeltaInput], editVectors: [EditVectors] = [], editTargets: EditTargets? = nil,
                lifelongStatistics: [LifelongStatisticsRecord] = [], message: String, author: String,
                sourceCommitID: String? = nil, revertedCommitID: String? = nil, efficacy: Double? = nil,
                verification: JSONValue? = nil, createdAt: String? = nil) {
        self.parentID = parentID
        self.baseModelID = baseModelID
        self.kind = kind
        self.method = method
        self.hyperparameters = hyperparameters
        self.contextPrefixes = contextPrefixes
        self.facts = facts
        self.deltas = deltas
        self.editVectors = editVectors
        self.editTargets = editTargets
        self.lifelongStatistics = lifelongStatistics
        self.message = message
        self.author = author
        self.sourceCommitID = sourceCommitID
        self.revertedCommitID = revertedCommitID
        self.efficacy = efficacy
        self.verification = verification
        self.createdAt = createdAt
    }
}

/// A stored commit (without facts and deltas; ask the repository for those).
public struct CommitRecord: Sendable, Equatable {
    public var id: String
    public var parentID: String?
    public var baseModelID: Int64
    /// SHA-256 of the base model file.
    public var baseModelDigest: String
    public var kind: CommitKind
    public var method: String
    public var hyperparameters: JSONValue
    public var contextPrefixes: [String]
    public var message: String
    public var author: String
    public var createdAt: String
    public var sourceCommitID: String?
    public var revertedCommitID: String?
    public var efficacy: Double?
    /// What the verification after solving found, for commits that recorded it.
    public var verification: JSONValue? = nil
}

/// Where a fact lives: commit and ordinal.
public struct FactReference: Sendable, Equatable, Hashable {
    public var commitID: String
    public var ordinal: Int
    public init(commitID: String, ordinal: Int) {
        self.commitID = commitID
        self.ordinal = ordinal
    }
}

/// A stored fact with its place and what it replaced.
public struct FactRecord: Sendable, Equatable {
    public var reference: FactReference
    public var fact: Fact
    /// The older fact with the same subject and prompt this one replaced, if any.
    public var supersedes: FactReference?
    public var commitID: String { reference.commitID }
    public var ordinal: Int { reference.ordinal }
}

/// Metadata of a stored delta (blobs not included; see `Repository.decodeDelta`).
public struct DeltaRecord: Sendable, Equatable {
    public var commitID: String
    public var tensor: String
    public var layer: Int
    public var rows: Int
    public var cols: Int
    public var rank: Int
    public var precision: DeltaPrecision
    public var norm: Double
    public var checksum: String
    public var storedBytes: Int
}

/// What HEAD is.
public enum HeadState: Sendable, Equatable {
    /// HEAD follows a branch (full name "refs/heads/…"); `commitID` nil when the branch is unborn.
    case branch(String, commitID: String?)
    /// HEAD names a commit directly.
    case detached(String)

    /// The commit HEAD resolves to, if any.
    public var commitID: String? {
        switch self {
        case .branch(_, let id): id
        case .detached(let id): id
        }
    }
}

/// A branch or tag.
public struct RefRecord: Sendable, Equatable {
    /// Full name, e.g. "refs/heads/main".
    public var name: String
    /// Short name, e.g. "main".
    public var shortName: String
    public var commitID: String
}

/// One move of a ref.
public struct ReflogEntry: Sendable, Equatable {
    public var sequence: Int64
    public var ref: String
    public var oldCommitID: String?
    public var newCommitID: String?
    public var message: String
    public var createdAt: String
}

/// The key of cached preservation statistics.
public struct PreservationKey: Sendable, Equatable, Hashable {
    public var baseModelID: Int64
    public var tensor: String
    public var corpusDigest: String
    public var tokenCount: Int
    public init(baseModelID: Int64, tensor: String, corpusDigest: String, tokenCount: Int) {
        self.baseModelID = baseModelID
        self.tensor = tensor
        self.corpusDigest = corpusDigest
        self.tokenCount = tokenCount
    }
}

/// Stored metrics of one commit on one dataset.
public struct EvaluationRecord: Sendable, Equatable {
    public var commitID: String
    public var datasetDigest: String
    public var metrics: JSONValue
    public var createdAt: String
}

/// One problem `fsck` found.
public struct FsckProblem: Sendable, Equatable, CustomStringConvertible {
    /// What is affected: "database", "commit <id>", "delta <id>/<tensor>", "ref <name>", …
    public var object: String
    public var message: String
    public var description: String { "\(object): \(message)" }
    public init(object: String, message: String) {
        self.object = object
        self.message = message
    }
}
