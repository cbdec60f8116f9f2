// What computing an edit produces: per edited layer the low-rank delta and the keys and values it
// was solved from, the context prefixes used, and per fact how the optimisation and the edit went.
// Plain values for the ledger and the CLI to store and print; no computation beyond U Vᵀ.
import Tensors

/// The edit of one layer's MLP output projection: Δ = U Vᵀ.
public struct LayerEdit: Sendable, Equatable {
    public var layer: Int
    /// d_out × n.
    public var u: Matrix<Float>
    /// d_in × n.
    public var v: Matrix<Float>
    /// K_E: the facts' keys at this layer when it was solved (d_in × n), memory for later commits.
    public var keys: Matrix<Float>
    /// The values the keys were solved towards, W K_E + R (d_out × n).
    public var values: Matrix<Float>

    public init(layer: Int, u: Matrix<Float>, v: Matrix<Float>, keys: Matrix<Float>, values: Matrix<Float>) {
        self.layer = layer
        self.u = u
        self.v = v
        self.keys = keys
        self.values = values
    }

    public var rank: Int { u.cols }

    /// Δ = U Vᵀ (d_out × d_in), computed in Float32 as the ledger materializes it.
    public var delta: Matrix<Float> { u.multiplied(by: v, transposeOther: true) }

    /// W + U Vᵀ.
    public func applied(to weight: Matrix<Float>) -> Matrix<Float> {
        precondition(weight.rows == u.rows && weight.cols == v.rows, "delta \(u.rows)×\(v.rows) for weight \(weight.rows)×\(weight.cols)")
        var out = weight
        out.addProduct(u, v, transposeB: true)
        return out
    }
}

/// How one fact fared.
public struct FactOutcome: Sendable, Equatable, Codable {
    /// The request's `label` (line and subject).
    public var fact: String
    /// Ids of " " + target_new.
    public var targetTokenIDs: [Int]
    /// δ optimisation: loss evaluations, final loss, final mean NLL, and whether it ended with every
    /// target token top-1 on every rewrite prompt.
    public var optimizationSteps: Int
    public var optimizationLoss: Double
    public var optimizationNLL: Double
    public var optimizationTop1: Bool
    /// Norm of δ and of the residual h it was added to.
    public var deltaNorm: Double
    public var baseNorm: Double
    /// log p(target_new | bare prompt), summed over its tokens, before and after the edit.
    public var logProbabilityBefore: Double
    public var logProbabilityAfter: Double
    /// Efficacy: after the edit, every target token is top-1 on the bare prompt (teacher-forced).
    public var efficacy: Bool
    /// NAS: whether the fact was not edited because its target norm was beyond the bound (nil:
    /// NAS off).
    public var normSkipped: Bool? = nil

    enum CodingKeys: String, CodingKey {
        case fact
        case targetTokenIDs = "target_token_ids"
        case optimizationSteps = "v_steps"
        case optimizationLoss = "v_loss"
        case optimizationNLL = "v_nll"
        case optimizationTop1 = "v_top1"
        case deltaNorm = "delta_norm"
        case baseNorm = "base_norm"
        case logProbabilityBefore = "logprob_before"
        case logProbabilityAfter = "logprob_after"
        case efficacy
        case normSkipped = "nas_skipped"
    }
}

/// A computed edit.
public struct EditResult: Sendable {
    public var method: EditMethod
    public var hyperparameters: EditHyperparameters
    /// The sampled (or given) context prefixes, exactly as prepended to prompts.
    public var prefixes: [String]
    /// One entry per edit layer, ascending.
    public var layers: [LayerEdit]
    /// One entry per request, in request order.
    public var facts: [FactOutcome]
    /// z = h + δ per fact: the residual stream after the last edit layer that the edit aims at
    /// (d_model × n, a column per fact).
    public var targets: Matrix<Float>
    /// The optimised targets in full, one per request (empty for UltraEdit, which has none):
    /// what a later solve of the same facts can reuse instead of optimising again.
    public var targetValues: [TargetValue] = []
    /// Whether the edit was left applied to the model.
    public var applied: Bool
    /// UltraEdit: every edit layer's running feature statistics after this edit (empty for the
    /// other methods).
    public var lifelongStatistics: [Int: LifelongNormalizer] = [:]

    /// The fraction of facts whose new target is top-1 after the edit.
    public var efficacy: Double {
        facts.isEmpty ? 0 : Double(facts.filter(\.efficacy).count) / Double(facts.count)
    }

    /// Earlier keys per layer for a later commit: these keys appended to `earlier`.
    public func memory(appendingTo earlier: [Int: Matrix<Float>] = [:]) -> [Int: Matrix<Float>] {
        Self.memory(of: layers, appendingTo: earlier)
    }

    /// The keys of `edits` appended, layer by layer, to `earlier`.
    static func memory(of edits: [LayerEdit], appendingTo earlier: [Int: Matrix<Float>]) -> [Int: Matrix<Float>] {
        var out = earlier
        for edit in edits {
            if let previous = out[edit.layer] {
                out[edit.layer] = previous.appendingColumns(edit.keys)
            } else {
                out[edit.layer] = edit.keys
            }
        }
        return out
    }
}

/// A step of `EditPlanner.computeEdit`, for progress display.
public struct EditProgress: Sendable, Equatable {
    public enum Stage: String, Sendable {
        case prefixes, targets, layers, evaluation
    }
    public var stage: Stage
    public var completed: Int
    public var total: Int
}
