// The entry point for computing an edit (DESIGN.md §3): sample context prefixes, optimise each
// fact's target z = h + δ at the last edit layer L (h its edit value: the residual after the block,
// or the MLP output before Gemma-3's post-feedforward norm), then walk the edit layers in ascending order —
// recompute the facts' keys on the partly edited model, measure the residual still missing at L on
// the bare prompts, give this layer its share R_j = (Z − Ẑ)/(m − j), solve the method's closed form
// and apply it. ROME takes the facts one at a time (each one's keys held by the next ones). The
// model's weights are restored on return unless `apply` is set. Nothing here reads files or
// touches the ledger.
import Models
import Tensors

/// Computes edits.
public enum EditPlanner {
    /// Computes (and optionally applies) the edit of `requests` by `method`.
    /// - Parameters:
    ///   - statistics: C0 for every edit layer (see `StatisticsCollector`).
    ///   - previousKeys: keys of facts committed earlier, per layer (d_in × p), preserved by the solve.
    ///   - previousGrams: Σ k kᵀ of further earlier facts, per layer (d_in × d_in); MEMIT and
    ///     AlphaEdit only (EMMET and ROME hold earlier facts by their keys).
    ///   - previousContextKeys: keys at the other positions of earlier facts' bare prompts, per
    ///     layer (see `PreservationProblem.contextKeys`).
    ///   - prefixes: context prefixes to reuse (e.g. from a stored commit); sampled when nil.
    ///   - presetTargets: one target per request, already optimised (by an earlier solve of the
    ///     same facts, or by `retarget`): no target optimisation runs.
    ///   - lifelongStatistics: UltraEdit only: the running feature statistics of the edit layers
    ///     so far (see `UltraEditSolver`); the memory is not used by it, and `statistics` only
    ///     with `ultraedit_null_space`.
    ///   - apply: leave the edited weights in `model`.
    /// - Throws: `SolverError` for invalid hyperparameters, missing statistics, facts that cannot be
    ///   tokenized, and singular systems (naming the facts).
    public static func computeEdit(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest],
                                   method: EditMethod, hyperparameters h: EditHyperparameters,
                                   statistics: [Int: LayerStatistics], previousKeys: [Int: Matrix<Float>] = [:],
                                   previousGrams: [Int: Matrix<Double>] = [:],
                                   previousContextKeys: [Int: Matrix<Float>] = [:],
                                   prefixes: [String]? = nil, presetTargets: [TargetValue]? = nil,
                                   lifelongStatistics: [Int: LifelongNormalizer] = [:],
                                   apply: Bool = false, progress: ((EditProgress) -> Void)? = nil) throws -> EditResult {
        if method == .ultraedit {
            var nullSpaces: [Int: NullSpaceProjection] = [:]
            if h.ultraEditNullSpace == true {
                try validate(model: model, hyperparameters: h, statistics: statistics, previousKeys: [:], previousGrams: [:])
                for layer in h.sortedLayers {
                    nullSpaces[layer] = try NullSpaceProjection(moment: statistics[layer]!.moment, hyperparameters: h, layer: layer)
                }
            }
            return try UltraEditSolver.computeEdit(model: model, tokenizer: tokenizer, requests: requests, hyperparameters: h,
                                                   statistics: lifelongStatistics, nullSpaces: nullSpaces, apply: apply,
                                                   progress: progress)
        }
        let config = model.configuration
        try validate(model: model, hyperparameters: h, statistics: statistics, previousKeys: previousKeys,
                     previousGrams: previousGrams)
        let layers = h.sortedLayers
        if requests.isEmpty { throw SolverError.invalidHyperparameter(field: "facts", reason: "no facts to edit") }
        if let presetTargets, presetTargets.count != requests.count || presetTargets.contains(where: { $0.target.count != config.hiddenSize }) {
            throw SolverError.shapeMismatch(what: "preset targets", expected: "\(requests.count) of \(config.hiddenSize)",
                                            actual: "\(presetTargets.count)")
        }

        let original = Dictionary(uniqueKeysWithValues: layers.map { ($0, model.mlpOutputWeight(layer: $0)) })
        var keepEdits = false
        defer {
            if !keepEdits { for (layer, weight) in original { model.setMLPOutputWeight(layer: layer, weight) } }
        }

        progress?(EditProgress(stage: .prefixes, completed: 0, total: 1))
        let contextPrefixes = prefixes ?? ContextPrefixSampler.sample(
            model: model, tokenizer: tokenizer, count: h.prefixCount, length: h.prefixLength, topK: h.prefixTopK, seed: h.seed)
        progress?(EditProgress(stage: .prefixes, completed: 1, total: 1))

        var plan = Plan(model: model, tokenizer: tokenizer, method: method, hyperparameters: h, layers: layers,
                        statistics: statistics, previousGrams: previousGrams, contextKeys: previousContextKeys,
                        prefixes: contextPrefixes, progress: progress)
        let targetIDs = try requests.map { try FactTokenization.target($0.targetNew, label: $0.label, tokenizer: tokenizer) }
        let bare = try requests.map { try FactTokenization.prompt($0, tokenizer: tokenizer) }
        let before = scoreTargets(model: model, prompts: bare.map(\.ids), targets: targetIDs)

        var edits: [LayerEdit] = []
        var targets: [TargetValue] = []
        if method == .rome {
            edits = try oneFactAtATime(requests.count, previousKeys: previousKeys) { i, memory in
                let step = try plan.editBatch([requests[i]], preset: presetTargets.map { [$0[i]] }, previousKeys: memory,
                                              targetOffset: i, targetTotal: requests.count)
                targets += step.targets
                return step.edits
            }
        } else {
            let step = try plan.editBatch(requests, preset: presetTargets, previousKeys: previousKeys, targetOffset: 0,
                                          targetTotal: requests.count)
            targets = step.targets
            edits = step.edits
        }

        progress?(EditProgress(stage: .evaluation, completed: 0, total: 1))
        let after = scoreTargets(model: model, prompts: bare.map(\.ids), targets: targetIDs)
        progress?(EditProgress(stage: .evaluation, completed: 1, total: 1))
        var outcomes: [FactOutcome] = []
        for i in requests.indices {
            let t = targets[i]
            outcomes.append(FactOutcome(
                fact: requests[i].label, targetTokenIDs: targetIDs[i], optimizationSteps: t.steps,
                optimizationLoss: t.loss, optimizationNLL: t.negativeLogLikelihood, optimizationTop1: t.allTop1,
                deltaNorm: norm(t.delta), baseNorm: norm(t.base), logProbabilityBefore: before[i].logProbability,
                logProbabilityAfter: after[i].logProbability, efficacy: after[i].allTop1,
                normSkipped: h.nasTargetNorm == nil ? nil : t.normSkipped))
        }
        var z = Matrix<Float>(rows: config.hiddenSize, cols: requests.count)
        for (i, t) in targets.enumerated() { z.setColumn(i, t.target) }
        keepEdits = apply
        return EditResult(method: method, hyperparameters: h, prefixes: contextPrefixes, layers: edits, facts: outcomes,
                          targets: z, targetValues: targets, applied: apply)
    }

    /// Optimises the targets of `requests` at the last edit layer on the model's current weights
    /// (NAS-aligned when the setting asks for it): z = h + δ from where these weights leave each
    /// fact, so on weights that already carry an edit of the same facts, the new z overshoots by
    /// what that edit's solve fell short of.
    public static func retarget(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest], prefixes: [String],
                                hyperparameters h: EditHyperparameters,
                                progress: (@Sendable (Int) -> Void)? = nil) throws -> [TargetValue] {
        let lastLayer = h.sortedLayers[h.sortedLayers.count - 1]
        let targets = try TargetValueOptimizer.optimize(model: model, tokenizer: tokenizer, requests: requests, prefixes: prefixes,
                                                        layer: lastLayer, hyperparameters: h, progress: progress)
        guard let norm = h.nasTargetNorm else { return targets }
        return try NormAlignedTargets.align(model: model, tokenizer: tokenizer, requests: requests, targets: targets,
                                            layer: lastLayer, norm: norm, skipFactor: h.nasSkipFactor)
    }

    /// Checks hyperparameters, statistics and earlier keys against the model's shapes.
    static func validate(model: EditableModel, hyperparameters h: EditHyperparameters,
                         statistics: [Int: LayerStatistics], previousKeys: [Int: Matrix<Float>],
                         previousGrams: [Int: Matrix<Double>]) throws {
        let config = model.configuration
        try h.validate(layerCount: config.layerCount)
        let layers = h.sortedLayers
        for layer in layers {
            guard let stats = statistics[layer] else { throw SolverError.missingStatistics(layer: layer) }
            if stats.moment.rows != config.intermediateSize {
                throw SolverError.shapeMismatch(what: "statistics of layer \(layer)", expected: "\(config.intermediateSize)×\(config.intermediateSize)",
                                                actual: "\(stats.moment.rows)×\(stats.moment.cols)")
            }
            if let keys = previousKeys[layer], keys.rows != config.intermediateSize {
                throw SolverError.shapeMismatch(what: "earlier keys of layer \(layer)", expected: "\(config.intermediateSize) rows",
                                                actual: "\(keys.rows)")
            }
            if let gram = previousGrams[layer], gram.rows != config.intermediateSize || gram.cols != config.intermediateSize {
                throw SolverError.shapeMismatch(what: "earlier facts' Gram of layer \(layer)",
                                                expected: "\(config.intermediateSize)×\(config.intermediateSize)",
                                                actual: "\(gram.rows)×\(gram.cols)")
            }
        }
    }

    /// Re-solves a recorded edit on the model's current weights: the same layer-by-layer
    /// distribution as `computeEdit` towards the recorded targets z (d_model × n, one column per
    /// request), with every fact's keys recomputed on the weights as they are now — so a change of
    /// an earlier edit layer, or of the weights the edit was made on, reaches the keys of the later
    /// layers. No target optimisation runs. The edits are left applied.
    /// - Throws: as `computeEdit`; `.shapeMismatch` when `targets` does not fit the model or requests.
    public static func redistribute(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest],
                                    method: EditMethod, hyperparameters h: EditHyperparameters,
                                    statistics: [Int: LayerStatistics], previousKeys: [Int: Matrix<Float>] = [:],
                                    previousGrams: [Int: Matrix<Double>] = [:],
                                    previousContextKeys: [Int: Matrix<Float>] = [:],
                                    prefixes: [String], targets: Matrix<Float>) throws -> [LayerEdit] {
        try validate(model: model, hyperparameters: h, statistics: statistics, previousKeys: previousKeys,
                     previousGrams: previousGrams)
        if requests.isEmpty { throw SolverError.invalidHyperparameter(field: "facts", reason: "no facts to edit") }
        let config = model.configuration
        if targets.rows != config.hiddenSize || targets.cols != requests.count {
            throw SolverError.shapeMismatch(what: "recorded targets", expected: "\(config.hiddenSize)×\(requests.count)",
                                            actual: "\(targets.rows)×\(targets.cols)")
        }
        var plan = Plan(model: model, tokenizer: tokenizer, method: method, hyperparameters: h, layers: h.sortedLayers,
                        statistics: statistics, previousGrams: previousGrams, contextKeys: previousContextKeys,
                        prefixes: prefixes, progress: nil)
        let z = targets.toDouble()
        if method != .rome { return try plan.distribute(requests, targets: z, previousKeys: previousKeys) }
        return try oneFactAtATime(requests.count, previousKeys: previousKeys) { i, memory in
            try plan.distribute([requests[i]], targets: z.columns(i..<(i + 1)), previousKeys: memory)
        }
    }

    /// ROME's order: fact i is solved with the keys of facts 0..<i added to the memory, and the
    /// per-layer factors of the single-fact edits are set side by side as one edit.
    static func oneFactAtATime(_ count: Int, previousKeys: [Int: Matrix<Float>],
                               solve: (Int, [Int: Matrix<Float>]) throws -> [LayerEdit]) rethrows -> [LayerEdit] {
        var memory = previousKeys
        var edits: [LayerEdit] = []
        for i in 0..<count {
            let step = try solve(i, memory)
            memory = EditResult.memory(of: step, appendingTo: memory)
            edits = merge(edits, step)
        }
        return edits
    }

    /// Per-layer factors side by side: the edits of successive single-fact solves as one edit.
    static func merge(_ a: [LayerEdit], _ b: [LayerEdit]) -> [LayerEdit] {
        if a.isEmpty { return b }
        return zip(a, b).map { x, y in
            LayerEdit(layer: x.layer, u: x.u.appendingColumns(y.u), v: x.v.appendingColumns(y.v),
                      keys: x.keys.appendingColumns(y.keys), values: x.values.appendingColumns(y.values))
        }
    }

    /// At most this many facts in force lend their prompts' context keys to a commit, evenly
    /// spaced over the history (`contextSample`), so a commit's cost stays bounded as it grows.
    public static let contextFactLimit = 512

    /// `facts` itself, or `contextFactLimit` of them evenly spaced (oldest to newest): the same
    /// facts for the same history.
    public static func contextSample<T>(_ facts: [T]) -> [T] {
        facts.evenlySpacedSample(contextFactLimit)
    }

    /// The context keys an edit with `h` holds for the facts in force: none without
    /// `memory_context_weight`; else those of `contextSample(factsInForce)`, through each new
    /// answer with `memory_context_answer`.
    /// - Throws: `SolverError` for facts that cannot be tokenized.
    public static func contextKeys(model: EditableModel, tokenizer: Tokenizer, factsInForce: [EditRequest], layers: [Int],
                                   hyperparameters h: EditHyperparameters) throws -> [Int: Matrix<Float>] {
        guard h.memoryContextWeight != nil else { return [:] }
        return try contextKeys(model: model, tokenizer: tokenizer, requests: contextSample(factsInForce), layers: layers,
                               throughAnswer: h.memoryContextAnswer == true)
    }

    /// The keys of `layers` at every position but the subject's of each request's bare prompt
    /// (`throughAnswer`: followed by its new answer without the last token), on the model's
    /// current weights (d_in × Σ(length − 1) per layer, requests in order): what
    /// `previousContextKeys` holds for facts in force.
    /// - Throws: `SolverError` for facts that cannot be tokenized.
    public static func contextKeys(model: EditableModel, tokenizer: Tokenizer, requests: [EditRequest],
                                   layers: [Int], throughAnswer: Bool = false) throws -> [Int: Matrix<Float>] {
        if requests.isEmpty { return [:] }
        let bare = try requests.map { try FactTokenization.prompt($0, tokenizer: tokenizer) }
        let sequences = try zip(requests, bare).map { request, prompt in
            guard throughAnswer else { return prompt.ids }
            let answer = try FactTokenization.target(request.targetNew, label: request.label, tokenizer: tokenizer)
            return TeacherForcedPrompt(prompt: prompt.ids, target: answer).ids
        }
        let positions = zip(bare, sequences).map { prompt, ids in ids.indices.filter { $0 != prompt.subjectPosition } }
        let stream = model.residualStream(prompts: sequences)
        var out: [Int: Matrix<Float>] = [:]
        for layer in Array(Set(layers)).sorted() {
            out[layer] = stream.keys(layer: layer, positionsPerPrompt: positions).transposed()
        }
        return out
    }

    static func norm(_ v: [Float]) -> Double { v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot() }

    /// Teacher-forced log-probability of each target after its prompt, and whether every target
    /// token is the argmax.
    static func scoreTargets(model: EditableModel, prompts: [[Int]], targets: [[Int]]) -> [(logProbability: Double, allTop1: Bool)] {
        var batch: [[Int]] = []
        var positions: [[Int]] = []
        var owners: [(fact: Int, token: Int)] = []
        for (i, (prompt, target)) in zip(prompts, targets).enumerated() {
            let forced = TeacherForcedPrompt(prompt: prompt, target: target)
            batch.append(forced.ids)
            positions.append(forced.positions)
            for token in forced.targetIDs { owners.append((i, token)) }
        }
        let logp = model.logProbabilities(prompts: batch, positionsPerPrompt: positions)
        var out = [(logProbability: Double, allTop1: Bool)](repeating: (0, true), count: prompts.count)
        for (row, owner) in owners.enumerated() {
            let values = logp.row(row)
            let mine = values[owner.token]
            out[owner.fact].logProbability += Double(mine)
            if values.enumerated().contains(where: { $0.offset != owner.token && $0.element >= mine }) {
                out[owner.fact].allTop1 = false
            }
        }
        return out
    }
}

/// The state of one computeEdit call.
private struct Plan {
    let model: EditableModel
    let tokenizer: Tokenizer
    let method: EditMethod
    let hyperparameters: EditHyperparameters
    let layers: [Int]
    let statistics: [Int: LayerStatistics]
    let previousGrams: [Int: Matrix<Double>]
    /// Keys at the other positions of earlier facts' bare prompts, held by every solve.
    let contextKeys: [Int: Matrix<Float>]
    let prefixes: [String]
    let progress: ((EditProgress) -> Void)?
    var nullSpaces: [Int: NullSpaceProjection] = [:]

    init(model: EditableModel, tokenizer: Tokenizer, method: EditMethod, hyperparameters: EditHyperparameters,
         layers: [Int], statistics: [Int: LayerStatistics], previousGrams: [Int: Matrix<Double>],
         contextKeys: [Int: Matrix<Float>], prefixes: [String], progress: ((EditProgress) -> Void)?) {
        self.model = model
        self.tokenizer = tokenizer
        self.method = method
        self.hyperparameters = hyperparameters
        self.layers = layers
        self.statistics = statistics
        self.previousGrams = previousGrams
        self.contextKeys = contextKeys
        self.prefixes = prefixes
        self.progress = progress
    }

    /// Targets (optimised, unless `preset`), then the layer-by-layer distribution, for one batch;
    /// leaves the edits applied.
    mutating func editBatch(_ requests: [EditRequest], preset: [TargetValue]?, previousKeys: [Int: Matrix<Float>],
                            targetOffset: Int, targetTotal: Int) throws -> (targets: [TargetValue], edits: [LayerEdit]) {
        progress?(EditProgress(stage: .targets, completed: targetOffset, total: targetTotal))
        nonisolated(unsafe) let report = progress
        let targets = try preset ?? EditPlanner.retarget(
            model: model, tokenizer: tokenizer, requests: requests, prefixes: prefixes, hyperparameters: hyperparameters,
            progress: { done in report?(EditProgress(stage: .targets, completed: targetOffset + done, total: targetTotal)) })
        progress?(EditProgress(stage: .targets, completed: targetOffset + requests.count, total: targetTotal))
        var z = Matrix<Double>(rows: model.configuration.hiddenSize, cols: requests.count)   // targets as columns
        for (i, t) in targets.enumerated() { z.setColumn(i, t.target.map(Double.init)) }
        return (targets, try distribute(requests, targets: z, previousKeys: previousKeys))
    }

    /// The layer-by-layer distribution towards targets `z` (d_model × n); leaves the edits applied.
    mutating func distribute(_ requests: [EditRequest], targets z: Matrix<Double>,
                             previousKeys: [Int: Matrix<Float>]) throws -> [LayerEdit] {
        let h = hyperparameters
        let lastLayer = layers[layers.count - 1]
        let contexts = [""] + prefixes
        let prompts = try requests.map { request in
            try contexts.map { try FactTokenization.prompt(request, prefix: $0, tokenizer: tokenizer) }
        }
        let bare = prompts.map { $0[0] }

        var edits: [LayerEdit] = []
        let flat = prompts.flatMap { $0 }
        let stream = model.residualStream(prompts: flat.map(\.ids))
        for (j, layer) in layers.enumerated() {
            progress?(EditProgress(stage: .layers, completed: j, total: layers.count))
            let promptKeys = stream.keys(layer: layer, positions: flat.map(\.subjectPosition))
            let keys = averagedKeys(promptKeys, prompts: prompts, bareWeight: h.keyBareWeight)   // d_in × n
            let current = model.editValues(prompts: bare.map(\.ids), positions: bare.map(\.subjectPosition),
                                           layer: lastLayer).toDouble().transposed()  // d_model × n
            let residual = (1.0 / Double(layers.count - j)) * (z - current)
            guard let stats = statistics[layer] else { throw SolverError.missingStatistics(layer: layer) }
            let earlier = previousKeys[layer]?.toDouble()
            var problem = PreservationProblem(layer: layer, residual: residual, keys: keys, previousKeys: earlier,
                                              previousGram: previousGrams[layer],
                                              moment: stats.moment, factLabels: requests.map(\.label))
            if h.memoryContextWeight != nil, let held = contextKeys[layer] { problem.contextKeys = held.toDouble() }
            var projection: NullSpaceProjection?
            if method == .alphaedit {
                if nullSpaces[layer] == nil {
                    nullSpaces[layer] = try NullSpaceProjection(moment: stats.moment, hyperparameters: h, layer: layer)
                }
                projection = nullSpaces[layer]
            }
            let delta = try PreservationSolver.solve(method, problem, hyperparameters: h, nullSpace: projection)
            let weight = model.mlpOutputWeight(layer: layer)
            let keysFloat = keys.toFloat()
            var values = weight.multiplied(by: keysFloat)
            values = values + residual.toFloat()
            var edit = LayerEdit(layer: layer, u: delta.u.toFloat(), v: delta.v.toFloat(), keys: keysFloat, values: values)
            let updated = edit.applied(to: weight)
            if !updated.values.allSatisfy(\.isFinite) { throw SolverError.nonFinite(layer: layer, what: "the edited weight") }
            if let memoryWeight = h.memoryBareWeight {
                // What later commits hold: the edited layer's output at the memory's keys.
                edit.keys = averagedKeys(promptKeys, prompts: prompts, bareWeight: memoryWeight).toFloat()
                edit.values = updated.multiplied(by: edit.keys)
            }
            model.setMLPOutputWeight(layer: layer, updated)
            edits.append(edit)
        }
        progress?(EditProgress(stage: .layers, completed: layers.count, total: layers.count))
        return edits
    }

    /// Each fact's key, averaged over its bare and prefixed prompts (d_in × n) with the bare
    /// prompt's share `bareWeight` (nil: every prompt alike), from `keys`, a row per prompt of
    /// `prompts` flattened in order, each group's bare prompt first.
    func averagedKeys(_ keys: Matrix<Float>, prompts: [[SubjectPrompt]], bareWeight: Double?) -> Matrix<Double> {
        let d = keys.cols
        var out = Matrix<Double>(rows: d, cols: prompts.count)
        var row = 0
        for (i, group) in prompts.enumerated() {
            var sum = [Double](repeating: 0, count: d)
            if let bareWeight, group.count > 1 {
                let otherWeight = (1 - bareWeight) / Double(group.count - 1)
                for index in group.indices {
                    let weight = index == 0 ? bareWeight : otherWeight
                    for c in 0..<d { sum[c] += weight * Double(keys[row, c]) }
                    row += 1
                }
            } else {
                for _ in group {
                    for c in 0..<d { sum[c] += Double(keys[row, c]) }
                    row += 1
                }
                sum = sum.map { $0 / Double(group.count) }
            }
            out.setColumn(i, sum)
        }
        return out
    }
}
