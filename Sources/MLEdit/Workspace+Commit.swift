// `Workspace.commit`: facts in, one new commit out. The edit is solved on the weights of HEAD with
// the memory of the facts in force, verified (VerifiedEdit), written in one transaction, and its
// health measured on the new weights.
import Foundation
import Ledger
import Models
import Solvers
import Tensors

/// How a commit is made; every field has the command line's default.
public struct CommitOptions {
    public var method: EditMethod = .memit
    /// A JSON object of hyperparameters overriding the defaults.
    public var hyperparametersFile: URL?
    /// The edit layers, overriding the defaults and the file.
    public var layers: [Int]?
    public var message: String?
    /// nil: $MLEDIT_AUTHOR, else $USER.
    public var author: String?
    /// Corpus files for the preservation statistics (nil: those the ledger holds, else the default corpus).
    public var corpus: [String]?
    /// Record the facts that land and leave out those that do not.
    public var allowPartial = false
    /// Verify, and solve further rounds when a fact does not land.
    public var verify = true
    /// NAS: align every target to the lineage's reference norm (measured on the base model at
    /// its first such commit) unless the hyperparameters give `nas_target_norm`.
    public var alignTargetNorms = false
    /// The health limits whose excess is warned of; nil: health is not measured.
    public var health: HealthLimits? = .defaults
    /// Seconds to wait for another writer.
    public var lockWait: TimeInterval = 180

    public init() {}
}

/// What `commit` made.
public struct CommitOutcome {
    public var record: CommitRecord
    /// The branch or detached HEAD the commit was made on, as it was before.
    public var head: HeadState
    /// The solved and verified edit: the facts recorded, the per-fact checks, the facts left out.
    public var edit: VerifiedEdit
    /// Facts of the commit that replace a fact in force, with the fact each replaces.
    public var superseded: [(fact: EditRequest, replaces: FactReference)]
    /// The health warnings, also given to the session as notes.
    public var healthWarnings: [String]
}

extension Workspace {
    /// The facts of a JSONL facts file.
    /// - Throws: `FactsFileError` naming the file, line and field.
    public static func facts(file: URL, allowDuplicates: Bool = false) throws -> [EditRequest] {
        try FactsFile.load(path: file.path, allowDuplicates: allowDuplicates)
    }

    /// Commits `facts` on HEAD. `factsFile` names them in messages about their bounds.
    /// - Throws: `MLEditError` (.editFailed when facts do not land, nothing written), solver,
    ///   model and ledger errors.
    public func commit(facts requests: [EditRequest], factsFile: String = "facts",
                       options: CommitOptions = CommitOptions()) throws -> CommitOutcome {
        let timer = StageTimer(session: session)
        return try writing(wait: options.lockWait) {
            let head = try repository.head()
            timer.mark("open")
            var context = try EditContext.load(repository: repository, parentID: head.commitID, session: session)
            timer.mark("load model")
            var h = try EditHyperparameters.resolve(configuration: context.model.configuration, method: options.method,
                                                    file: options.hyperparametersFile, editLayers: options.layers)
            try FactBounds.check(requests, file: factsFile, tokenizer: context.tokenizer,
                                 contextLength: context.model.configuration.contextLength, hyperparameters: h)
            if options.alignTargetNorms, h.nasTargetNorm == nil {
                let reference = try context.nasReferenceNorm(requests: requests, hyperparameters: h)
                h.nasTargetNorm = reference.norm
                session.note("note: NAS reference norm \(String(format: "%.4g", reference.norm)) (\(reference.source))")
                timer.mark("nas reference")
            }
            let statistics = h.usesPreservationStatistics(options.method)
                ? try context.statistics(layers: h.sortedLayers, hyperparameters: h, corpus: options.corpus, session: session)
                : [:]
            timer.mark("statistics")

            // Read once: every verification round asks which facts in force its facts replace.
            let inForce = try head.commitID.map { try repository.facts(inLineageOf: $0) } ?? []
            let superseded = Self.supersededFacts(requests, inForce: inForce)
            for (request, old) in superseded {
                session.note("note: \(request.label) supersedes fact \(old.ordinal) of commit \(old.commitID.prefix(10))")
            }
            let bar = session.progress("edit", requests.count * 2 + h.layers.count)
            let parent = context
            // The rounds of one commit start from the same weights: their memory differs only when
            // the facts they leave out supersede different facts in force.
            var memories: [Set<FactReference>: EditMemory] = [:]
            let edit = try VerifiedEdit.solve(
                requests: requests, method: options.method, hyperparameters: h, statistics: statistics,
                memory: { facts in
                    let replaced = Set(Self.supersededFacts(facts, inForce: inForce).map(\.1))
                    if let known = memories[replaced] { return known }
                    let memory = try parent.memory(layers: h.sortedLayers, method: options.method, hyperparameters: h,
                                                   excluding: replaced)
                    memories[replaced] = memory
                    return memory
                },
                model: context.model, tokenizer: context.tokenizer, allowPartial: options.allowPartial,
                retry: options.verify,
                progress: { step in
                    if step.completed == step.total { timer.mark(step.stage.rawValue) }
                    switch step.stage {
                    case .targets: bar.update(step.completed)
                    case .layers: bar.update(requests.count + step.completed)
                    default: break
                    }
                })
            bar.finish()
            let result = edit.result
            let draft = try CommitDraft(
                parentID: head.commitID, baseModelID: context.baseModel.id, kind: .edit, method: options.method.rawValue,
                hyperparameters: JSONValue(encoding: edit.hyperparameters, field: "hyperparameters"), contextPrefixes: result.prefixes,
                facts: edit.requests.map(\.ledgerFact), deltas: result.layers.map(\.deltaInput),
                editVectors: result.storedEditVectors, editTargets: result.editTargets,
                lifelongStatistics: result.lifelongStatisticsRecords, message: options.message ?? Self.defaultMessage(edit.requests), author: options.author ?? defaultAuthor,
                efficacy: result.efficacy, verification: edit.ledgerValue)
            let record = try repository.writeCommit(draft)
            timer.mark("write")
            let warnings = HealthCheck.afterCommit(context: &context, commitID: record.id, limits: options.health, session: session)
            timer.mark("health")
            return CommitOutcome(record: record, head: head, edit: edit,
                                 superseded: superseded.map { (fact: $0.0, replaces: $0.1) }, healthWarnings: warnings)
        }
    }

    /// New facts with the subject and prompt of a fact in force, and the fact each replaces.
    static func supersededFacts(_ requests: [EditRequest], inForce: [FactRecord]) -> [(EditRequest, FactReference)] {
        let superseded = Lineage.superseded(by: requests.map(\.ledgerFact), inForce: inForce)
        return zip(requests, superseded).compactMap { request, old in old.map { (request, $0) } }
    }

    /// "Edit <subject>: <true> → <new>" (and "and N more").
    static func defaultMessage(_ requests: [EditRequest]) -> String {
        let first = requests[0]
        let subject = "\(first.subject): \(first.targetTrue.map { "\($0) → " } ?? "")\(first.targetNew)"
        return requests.count == 1 ? "Edit \(subject)" : "Edit \(subject) and \(requests.count - 1) more"
    }
}

extension EditResult {
    /// z after the last edit layer, as the ledger stores it.
    package var editTargets: EditTargets? {
        guard let last = layers.last?.layer, targets.cols > 0 else { return nil }
        return EditTargets(layer: last, values: targets.toDouble())
    }
}

extension EditResult {
    /// UltraEdit's statistics after the edit, as the ledger stores them (empty for other methods).
    package var lifelongStatisticsRecords: [LifelongStatisticsRecord] {
        lifelongStatistics.keys.sorted().map { lifelongStatistics[$0]!.record(layer: $0) }
    }
}

extension LayerEdit {
    package var deltaInput: DeltaInput {
        DeltaInput(tensor: TensorNaming.mlpOutputWeight(layer: layer), layer: layer, u: u.toDouble(), v: v.toDouble())
    }

    /// The keys (rounded to column blocks of signed bytes, ColumnBlockQ8, which the ledger stores
    /// in about a byte a number) and, with `keepingValues`, the target values, as the ledger stores
    /// them. Every later use of the keys — the memory of the facts in force, a replay — reads these
    /// rounded keys, so a commit solved now and the same commit replayed later see the same numbers.
    package func editVectors(keepingValues: Bool) -> EditVectors {
        let values = keepingValues ? self.values.toDouble() : Matrix<Double>(rows: 0, cols: keys.cols)
        return EditVectors(tensor: TensorNaming.mlpOutputWeight(layer: layer), layer: layer,
                           keys: ColumnBlockQ8.rounded(keys).toDouble(), values: values)
    }
}

extension EditResult {
    /// The edit vectors the ledger stores for this edit. The target values are kept only when a
    /// replay would need them: a commit with targets z is replayed towards z, an UltraEdit commit
    /// from its facts, so neither stores them.
    package var storedEditVectors: [EditVectors] {
        let keepValues = editTargets == nil && method != .ultraedit
        return layers.map { $0.editVectors(keepingValues: keepValues) }
    }
}
