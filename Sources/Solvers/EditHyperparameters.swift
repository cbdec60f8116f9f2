// The knobs of an edit: where it goes, how target values are optimised, how strongly the
// preservation term pulls, and how the statistics and context prefixes are made. A Codable value
// stored with every commit; the per-model defaults are data in HyperparameterDefaults.swift.
import Foundation

/// The closed-form editing methods (DESIGN.md §3).
public enum EditMethod: String, Codable, Sendable, CaseIterable {
    /// Rank-one equality-constrained edit, one fact at a time (EMMET with n = 1).
    case rome
    /// Least squares with a λ-weighted preservation term.
    case memit
    /// Equality-constrained batch edit.
    case emmet
    /// MEMIT-style least squares projected onto the null space of the preserved keys.
    case alphaedit
    /// ENCORE (arXiv 2502.01636): MEMIT with a Frobenius-norm penalty on each update
    /// (`update_norm_lambda`) and the most-probable early stop of the targets, for long histories.
    case encore
    /// UltraEdit (arXiv 2505.14679): no target optimisation and no preservation statistics; one
    /// forward and backward pass gives each answer token's key and the gradient of the loss with
    /// respect to the MLP output, standardised with running statistics over every edit so far,
    /// then one ridge solve per layer.
    case ultraedit

    /// Whether the method keeps earlier facts by Σ kkᵀ per layer (least squares) rather than by
    /// each fact's keys (the equality-constrained EMMET and ROME).
    public var holdsEarlierFactsByGram: Bool {
        switch self {
        case .memit, .alphaedit, .encore: true
        case .rome, .emmet, .ultraedit: false
        }
    }

    /// Whether the method solves against C0 and the memory of the facts in force (every method
    /// but UltraEdit, which keeps only its running feature statistics).
    public var usesPreservationStatistics: Bool { self != .ultraedit }
}

/// Hyperparameters of one edit. JSON names follow the ROME/MEMIT configuration files where one
/// exists.
public struct EditHyperparameters: Codable, Sendable, Equatable {
    /// Edit layers (0-based, any order in the file; used ascending). The last one is where the
    /// target values are optimised.
    public var layers: [Int]
    /// Adam learning rate of δ.
    public var vLearningRate: Double
    /// Maximum number of evaluations of the δ loss (the last one takes no step).
    public var vSteps: Int
    /// Weight of ‖δ‖² / ‖h‖² in the δ loss (the squared form; see TargetValueOptimizer).
    public var vWeightDecay: Double
    /// Weight of KL(original ‖ edited) on the "{subject} is a" prompt.
    public var klFactor: Double
    /// ‖δ‖ is clamped to this times ‖h‖ after every step.
    public var clampNormFactor: Double
    /// δ optimisation stops once the loss is below this.
    public var vLossThreshold: Double
    /// δ optimisation also stops once every target token is top-1 on every rewrite prompt
    /// (ENCORE's most-probable early stop).
    public var vStopAtTop1: Bool
    /// The top-1 stop waits until the mean per-token NLL of the target is at most this as well
    /// (a margin for what the closed form loses when it realizes δ; nil = stop at top-1 alone).
    public var vTop1MaxNLL: Double?
    /// The prompt of the KL term, `{}` for the subject.
    public var klPrompt: String
    /// The bare prompt's share of each fact's key, the rest split evenly over the prefixed prompts
    /// (nil = every prompt alike). A subject that opens the text has a key unlike the same subject
    /// after a context, and the bare prompt is the one a user asks.
    public var keyBareWeight: Double?
    /// The bare prompt's share of the key each fact leaves in the memory that later commits
    /// preserve (nil = the key it was solved with). Later commits hold an earlier fact's output
    /// only at this key, and the bare prompt is the one a user asks.
    public var memoryBareWeight: Double?
    /// How strongly MEMIT, ENCORE and AlphaEdit hold the facts in force against a new edit: the
    /// weight of ‖Δ K_p‖² beside the new facts' ‖(W+Δ)K_E − V_E‖² (nil = 1, the recursive least
    /// squares of one solve over all facts). EMMET and ROME hold them by equality.
    public var memoryWeight: Double?
    /// The weight, beside a fact's own key, of the keys at every other position of its bare
    /// prompt in the memory that later commits preserve (nil = the fact's key alone). A later
    /// edit that holds only the subject's key can still change what the earlier prompt's other
    /// tokens carry into its answer through attention.
    public var memoryContextWeight: Double?
    /// Whether those context keys also take the positions of each earlier fact's new answer but
    /// its last token (nil = the bare prompt's alone). A later token of a multi-token answer is
    /// read at the answer's own earlier tokens, which the bare prompt does not reach.
    public var memoryContextAnswer: Bool?
    /// λ: weight of the preservation term λ·C0 (MEMIT; mom2_update_weight).
    public var preservationWeight: Double
    /// Tokens of ordinary text in the preservation statistics C0.
    public var statisticsTokenCount: Int
    /// Length in tokens of each statistics sequence (cut to the model's context).
    public var statisticsSequenceLength: Int
    /// Number of sampled context prefixes (the bare prompt is always used as well).
    public var prefixCount: Int
    /// Length in tokens of each sampled prefix, its seed word included.
    public var prefixLength: Int
    /// Top-k of the prefix sampler.
    public var prefixTopK: Int
    /// Seed of the prefix sampler.
    public var seed: UInt64
    /// EMMET/ROME: ridge added to the diagonal of K_Eᵀ C0⁻¹ K_E, relative to its mean diagonal.
    public var emmetRidge: Double
    /// AlphaEdit: eigenvectors of C0 with eigenvalue below this times the largest eigenvalue span
    /// the null space the update is projected onto.
    public var nullSpaceThreshold: Double
    /// AlphaEdit and confined UltraEdit: when set, the null space is instead spanned by the
    /// eigenvectors of C0's smallest eigenvalues that together carry at most this share of its
    /// trace (ordinary text's squared key norm), whatever the spread of the spectrum.
    public var nullSpaceEnergy: Double?
    /// AlphaEdit: α, the ridge of the projected normal equations (in units of the mean squared key
    /// norm of the batch, so that it does not depend on the scale of the keys).
    public var alphaEditRegularization: Double
    /// ENCORE: μ of the penalty μ‖Δ‖²_F on each layer's update (added as μI to λC0 + KKᵀ), in
    /// units of the mean diagonal of λC0.
    public var updateNormLambda: Double
    /// NAS (arXiv 2602.02543): rescale every target's MLP-output value v* = W k + δ to this norm,
    /// the mean ‖v*‖ measured on the unedited model (nil: NAS off).
    public var nasTargetNorm: Double?
    /// NAS: a fact whose ‖v*‖ exceeds this times `nasTargetNorm` is not edited (δ = 0) and reported.
    public var nasSkipFactor: Double
    /// UltraEdit: the step size of its pseudo-values v = −lr·‖k̂‖²·ĝ (nil: not an UltraEdit edit).
    public var ultraEditLearningRate: Double?
    /// UltraEdit: λ of the ridge solve Δ = Vᵀ(KKᵀ + λI)⁻¹K over the raw keys (nil: not an UltraEdit edit).
    public var ultraEditRidge: Double?
    /// UltraEdit: confine the update to the null space of C0 (AlphaEdit's projection P, chosen by
    /// `nullSpaceThreshold` or `nullSpaceEnergy`), solving Δ = Vᵀ(KPKᵀ + λI)⁻¹KP, so that keys of
    /// ordinary text are left as they were (nil or false: the unprojected solve, and no C0 needed).
    public var ultraEditNullSpace: Bool?

    /// Whether `method` with these settings solves against C0: every method but UltraEdit, and
    /// UltraEdit confined to C0's null space.
    public func usesPreservationStatistics(_ method: EditMethod) -> Bool {
        method.usesPreservationStatistics || (method == .ultraedit && ultraEditNullSpace == true)
    }

    enum CodingKeys: String, CodingKey {
        case layers
        case vLearningRate = "v_lr"
        case vSteps = "v_num_grad_steps"
        case vWeightDecay = "v_weight_decay"
        case klFactor = "kl_factor"
        case clampNormFactor = "clamp_norm_factor"
        case vLossThreshold = "v_loss_threshold"
        case vStopAtTop1 = "v_stop_at_top1"
        case vTop1MaxNLL = "v_top1_max_nll"
        case klPrompt = "kl_prompt"
        case keyBareWeight = "key_bare_weight"
        case memoryBareWeight = "memory_bare_weight"
        case memoryWeight = "memory_weight"
        case memoryContextWeight = "memory_context_weight"
        case memoryContextAnswer = "memory_context_answer"
        case preservationWeight = "mom2_update_weight"
        case statisticsTokenCount = "mom2_n_tokens"
        case statisticsSequenceLength = "mom2_sequence_length"
        case prefixCount = "prefix_count"
        case prefixLength = "prefix_length"
        case prefixTopK = "prefix_top_k"
        case seed
        case emmetRidge = "emmet_ridge"
        case nullSpaceThreshold = "nullspace_threshold"
        case nullSpaceEnergy = "null_space_energy"
        case alphaEditRegularization = "alphaedit_l2"
        case updateNormLambda = "update_norm_lambda"
        case nasTargetNorm = "nas_target_norm"
        case nasSkipFactor = "nas_skip_factor"
        case ultraEditLearningRate = "ultraedit_lr"
        case ultraEditRidge = "ultraedit_ridge"
        case ultraEditNullSpace = "ultraedit_null_space"
    }

    public init(layers: [Int], vLearningRate: Double = 0.5, vSteps: Int = 25, vWeightDecay: Double = 1e-3,
                klFactor: Double = 0.0625, clampNormFactor: Double = 0.75, vLossThreshold: Double = 0.05,
                vStopAtTop1: Bool = true, vTop1MaxNLL: Double? = nil, klPrompt: String = "{} is a",
                keyBareWeight: Double? = nil, memoryBareWeight: Double? = nil, memoryWeight: Double? = nil, preservationWeight: Double = 15000,
                statisticsTokenCount: Int = 100_000, statisticsSequenceLength: Int = 128,
                prefixCount: Int = 5, prefixLength: Int = 10, prefixTopK: Int = 5, seed: UInt64 = 0,
                emmetRidge: Double = 0, nullSpaceThreshold: Double = 1e-2,
                alphaEditRegularization: Double = 1, updateNormLambda: Double = 0, nasTargetNorm: Double? = nil,
                nasSkipFactor: Double = 2, ultraEditLearningRate: Double? = nil, ultraEditRidge: Double? = nil) {
        self.layers = layers
        self.vLearningRate = vLearningRate
        self.vSteps = vSteps
        self.vWeightDecay = vWeightDecay
        self.klFactor = klFactor
        self.clampNormFactor = clampNormFactor
        self.vLossThreshold = vLossThreshold
        self.vStopAtTop1 = vStopAtTop1
        self.vTop1MaxNLL = vTop1MaxNLL
        self.klPrompt = klPrompt
        self.keyBareWeight = keyBareWeight
        self.memoryBareWeight = memoryBareWeight
        self.memoryWeight = memoryWeight
        self.preservationWeight = preservationWeight
        self.statisticsTokenCount = statisticsTokenCount
        self.statisticsSequenceLength = statisticsSequenceLength
        self.prefixCount = prefixCount
        self.prefixLength = prefixLength
        self.prefixTopK = prefixTopK
        self.seed = seed
        self.emmetRidge = emmetRidge
        self.nullSpaceThreshold = nullSpaceThreshold
        self.alphaEditRegularization = alphaEditRegularization
        self.updateNormLambda = updateNormLambda
        self.nasTargetNorm = nasTargetNorm
        self.nasSkipFactor = nasSkipFactor
        self.ultraEditLearningRate = ultraEditLearningRate
        self.ultraEditRidge = ultraEditRidge
    }

    /// Decodes, taking any field that is absent from `EditHyperparameters.init` defaults; only
    /// `layers` is required.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = EditHyperparameters(layers: [])
        layers = try c.decode([Int].self, forKey: .layers)
        vLearningRate = try c.decodeIfPresent(Double.self, forKey: .vLearningRate) ?? d.vLearningRate
        vSteps = try c.decodeIfPresent(Int.self, forKey: .vSteps) ?? d.vSteps
        vWeightDecay = try c.decodeIfPresent(Double.self, forKey: .vWeightDecay) ?? d.vWeightDecay
        klFactor = try c.decodeIfPresent(Double.self, forKey: .klFactor) ?? d.klFactor
        clampNormFactor = try c.decodeIfPresent(Double.self, forKey: .clampNormFactor) ?? d.clampNormFactor
        vLossThreshold = try c.decodeIfPresent(Double.self, forKey: .vLossThreshold) ?? d.vLossThreshold
        vStopAtTop1 = try c.decodeIfPresent(Bool.self, forKey: .vStopAtTop1) ?? d.vStopAtTop1
        vTop1MaxNLL = try c.decodeIfPresent(Double.self, forKey: .vTop1MaxNLL)
        klPrompt = try c.decodeIfPresent(String.self, forKey: .klPrompt) ?? d.klPrompt
        keyBareWeight = try c.decodeIfPresent(Double.self, forKey: .keyBareWeight)
        memoryBareWeight = try c.decodeIfPresent(Double.self, forKey: .memoryBareWeight)
        memoryWeight = try c.decodeIfPresent(Double.self, forKey: .memoryWeight)
        memoryContextWeight = try c.decodeIfPresent(Double.self, forKey: .memoryContextWeight)
        memoryContextAnswer = try c.decodeIfPresent(Bool.self, forKey: .memoryContextAnswer)
        preservationWeight = try c.decodeIfPresent(Double.self, forKey: .preservationWeight) ?? d.preservationWeight
        statisticsTokenCount = try c.decodeIfPresent(Int.self, forKey: .statisticsTokenCount) ?? d.statisticsTokenCount
        statisticsSequenceLength = try c.decodeIfPresent(Int.self, forKey: .statisticsSequenceLength)
            ?? d.statisticsSequenceLength
        prefixCount = try c.decodeIfPresent(Int.self, forKey: .prefixCount) ?? d.prefixCount
        prefixLength = try c.decodeIfPresent(Int.self, forKey: .prefixLength) ?? d.prefixLength
        prefixTopK = try c.decodeIfPresent(Int.self, forKey: .prefixTopK) ?? d.prefixTopK
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        emmetRidge = try c.decodeIfPresent(Double.self, forKey: .emmetRidge) ?? d.emmetRidge
        nullSpaceThreshold = try c.decodeIfPresent(Double.self, forKey: .nullSpaceThreshold) ?? d.nullSpaceThreshold
        alphaEditRegularization = try c.decodeIfPresent(Double.self, forKey: .alphaEditRegularization)
            ?? d.alphaEditRegularization
        updateNormLambda = try c.decodeIfPresent(Double.self, forKey: .updateNormLambda) ?? d.updateNormLambda
        nasTargetNorm = try c.decodeIfPresent(Double.self, forKey: .nasTargetNorm)
        nasSkipFactor = try c.decodeIfPresent(Double.self, forKey: .nasSkipFactor) ?? d.nasSkipFactor
        ultraEditLearningRate = try c.decodeIfPresent(Double.self, forKey: .ultraEditLearningRate)
        ultraEditRidge = try c.decodeIfPresent(Double.self, forKey: .ultraEditRidge)
        ultraEditNullSpace = try c.decodeIfPresent(Bool.self, forKey: .ultraEditNullSpace)
        nullSpaceEnergy = try c.decodeIfPresent(Double.self, forKey: .nullSpaceEnergy)
    }

    /// Encodes every field but leaves out the ENCORE, NAS and UltraEdit fields at their defaults, so that the
    /// stored hyperparameters (and the ids) of commits made without them are what they were.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(layers, forKey: .layers)
        try c.encode(vLearningRate, forKey: .vLearningRate)
        try c.encode(vSteps, forKey: .vSteps)
        try c.encode(vWeightDecay, forKey: .vWeightDecay)
        try c.encode(klFactor, forKey: .klFactor)
        try c.encode(clampNormFactor, forKey: .clampNormFactor)
        try c.encode(vLossThreshold, forKey: .vLossThreshold)
        try c.encode(vStopAtTop1, forKey: .vStopAtTop1)
        try c.encodeIfPresent(vTop1MaxNLL, forKey: .vTop1MaxNLL)
        try c.encode(klPrompt, forKey: .klPrompt)
        try c.encodeIfPresent(keyBareWeight, forKey: .keyBareWeight)
        try c.encodeIfPresent(memoryBareWeight, forKey: .memoryBareWeight)
        try c.encodeIfPresent(memoryWeight, forKey: .memoryWeight)
        try c.encodeIfPresent(memoryContextWeight, forKey: .memoryContextWeight)
        try c.encodeIfPresent(memoryContextAnswer, forKey: .memoryContextAnswer)
        try c.encode(preservationWeight, forKey: .preservationWeight)
        try c.encode(statisticsTokenCount, forKey: .statisticsTokenCount)
        try c.encode(statisticsSequenceLength, forKey: .statisticsSequenceLength)
        try c.encode(prefixCount, forKey: .prefixCount)
        try c.encode(prefixLength, forKey: .prefixLength)
        try c.encode(prefixTopK, forKey: .prefixTopK)
        try c.encode(seed, forKey: .seed)
        try c.encode(emmetRidge, forKey: .emmetRidge)
        try c.encode(nullSpaceThreshold, forKey: .nullSpaceThreshold)
        try c.encode(alphaEditRegularization, forKey: .alphaEditRegularization)
        let d = EditHyperparameters(layers: [])
        if updateNormLambda != d.updateNormLambda { try c.encode(updateNormLambda, forKey: .updateNormLambda) }
        try c.encodeIfPresent(nasTargetNorm, forKey: .nasTargetNorm)
        if nasTargetNorm != nil || nasSkipFactor != d.nasSkipFactor { try c.encode(nasSkipFactor, forKey: .nasSkipFactor) }
        try c.encodeIfPresent(ultraEditLearningRate, forKey: .ultraEditLearningRate)
        try c.encodeIfPresent(ultraEditRidge, forKey: .ultraEditRidge)
        try c.encodeIfPresent(ultraEditNullSpace, forKey: .ultraEditNullSpace)
        try c.encodeIfPresent(nullSpaceEnergy, forKey: .nullSpaceEnergy)
    }

    /// Edit layers in ascending order.
    public var sortedLayers: [Int] { Array(Set(layers)).sorted() }

    /// Fields a hyperparameters file may set although the defaults leave them out (nil).
    public static let optionalFields: Set<String> = [
        CodingKeys.keyBareWeight.rawValue, CodingKeys.memoryBareWeight.rawValue, CodingKeys.memoryWeight.rawValue,
        CodingKeys.memoryContextWeight.rawValue, CodingKeys.memoryContextAnswer.rawValue,
        CodingKeys.ultraEditNullSpace.rawValue, CodingKeys.nullSpaceEnergy.rawValue,
    ]

    /// The fields that take whole numbers (`layers`: an array of them).
    public static let wholeNumberFields: Set<String> = [
        CodingKeys.layers, .vSteps, .statisticsTokenCount, .statisticsSequenceLength, .prefixCount, .prefixLength,
        .prefixTopK, .seed,
    ].reduce(into: []) { $0.insert($1.rawValue) }

    /// Upper limits: beyond them a commit would run for hours without a result worth having.
    public static let maxSteps = 1_000
    public static let maxStatisticsTokens = 100_000_000
    public static let maxPrefixCount = 64
    public static let maxPrefixLength = 256
    public static let maxPrefixTopK = 1_000

    /// Checks ranges and that the layers exist in a model with `layerCount` blocks (and, given
    /// its context, that the statistics sequences fit it).
    /// - Throws: `SolverError.invalidHyperparameter` naming the field.
    public func validate(layerCount: Int, contextLength: Int? = nil) throws {
        func fail(_ field: CodingKeys, _ reason: String) -> SolverError {
            .invalidHyperparameter(field: field.rawValue, reason: reason)
        }
        if layers.isEmpty { throw fail(.layers, "at least one edit layer is needed") }
        if let bad = layers.first(where: { $0 < 0 || $0 >= layerCount }) {
            throw fail(.layers, "layer \(bad) is not in 0..<\(layerCount)")
        }
        if Set(layers).count != layers.count { throw fail(.layers, "layers repeat") }
        if !(vLearningRate > 0 && vLearningRate.isFinite) { throw fail(.vLearningRate, "must be positive") }
        if !(1...Self.maxSteps).contains(vSteps) { throw fail(.vSteps, "must be from 1 to \(Self.maxSteps)") }
        if !(vWeightDecay >= 0 && vWeightDecay.isFinite) { throw fail(.vWeightDecay, "must be ≥ 0") }
        if !(klFactor >= 0 && klFactor.isFinite) { throw fail(.klFactor, "must be ≥ 0") }
        if !(clampNormFactor > 0 && clampNormFactor.isFinite) { throw fail(.clampNormFactor, "must be positive") }
        if !(vLossThreshold >= 0 && vLossThreshold.isFinite) { throw fail(.vLossThreshold, "must be ≥ 0") }
        if let margin = vTop1MaxNLL, !(margin >= 0 && margin.isFinite) { throw fail(.vTop1MaxNLL, "must be ≥ 0") }
        if !klPrompt.contains("{}") { throw fail(.klPrompt, "must contain {} for the subject") }
        if let weight = keyBareWeight, !(weight > 0 && weight <= 1) { throw fail(.keyBareWeight, "must be in (0, 1]") }
        if let weight = memoryBareWeight, !(weight > 0 && weight <= 1) { throw fail(.memoryBareWeight, "must be in (0, 1]") }
        if let weight = memoryWeight, !(weight > 0 && weight.isFinite) { throw fail(.memoryWeight, "must be positive") }
        if let weight = memoryContextWeight, !(weight > 0 && weight.isFinite) { throw fail(.memoryContextWeight, "must be positive") }
        if memoryContextAnswer == true && memoryContextWeight == nil {
            throw fail(.memoryContextAnswer, "needs memory_context_weight, the weight of the context keys")
        }
        if !(preservationWeight >= 0 && preservationWeight.isFinite) { throw fail(.preservationWeight, "must be ≥ 0") }
        if !(1...Self.maxStatisticsTokens).contains(statisticsTokenCount) {
            throw fail(.statisticsTokenCount, "must be from 1 to \(Self.maxStatisticsTokens)")
        }
        if statisticsSequenceLength < 2 { throw fail(.statisticsSequenceLength, "must be at least 2") }
        if let contextLength, statisticsSequenceLength > contextLength {
            throw fail(.statisticsSequenceLength, "must be at most the model's context of \(contextLength)")
        }
        if !(0...Self.maxPrefixCount).contains(prefixCount) { throw fail(.prefixCount, "must be from 0 to \(Self.maxPrefixCount)") }
        if !(1...Self.maxPrefixLength).contains(prefixLength) { throw fail(.prefixLength, "must be from 1 to \(Self.maxPrefixLength)") }
        if !(1...Self.maxPrefixTopK).contains(prefixTopK) { throw fail(.prefixTopK, "must be from 1 to \(Self.maxPrefixTopK)") }
        if !(emmetRidge >= 0 && emmetRidge.isFinite) { throw fail(.emmetRidge, "must be ≥ 0") }
        if !(nullSpaceThreshold >= 0 && nullSpaceThreshold < 1) { throw fail(.nullSpaceThreshold, "must be in [0, 1)") }
        if let energy = nullSpaceEnergy, !(energy > 0 && energy < 1) { throw fail(.nullSpaceEnergy, "must be in (0, 1)") }
        if !(alphaEditRegularization > 0 && alphaEditRegularization.isFinite) {
            throw fail(.alphaEditRegularization, "must be positive")
        }
        if !(updateNormLambda >= 0 && updateNormLambda.isFinite) { throw fail(.updateNormLambda, "must be ≥ 0") }
        if let norm = nasTargetNorm, !(norm > 0 && norm.isFinite) { throw fail(.nasTargetNorm, "must be positive") }
        if !(nasSkipFactor >= 1 && nasSkipFactor.isFinite) { throw fail(.nasSkipFactor, "must be at least 1") }
        if let lr = ultraEditLearningRate, !(lr > 0 && lr.isFinite) { throw fail(.ultraEditLearningRate, "must be positive") }
        if let ridge = ultraEditRidge, !(ridge > 0 && ridge.isFinite) { throw fail(.ultraEditRidge, "must be positive") }
        if ultraEditNullSpace == true && ultraEditLearningRate == nil {
            throw fail(.ultraEditNullSpace, "applies to UltraEdit edits only (ultraedit_lr is not set)")
        }
    }

    /// Canonical JSON (sorted keys), as stored with a commit.
    public func canonicalJSON() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return try encoder.encode(self)
    }
}
