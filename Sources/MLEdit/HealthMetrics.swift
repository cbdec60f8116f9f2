// The health of one version of an edited model, as stored in the ledger's evaluations table
// under the probe's digest: probe perplexity, cumulative delta norm per edited tensor, and how
// many facts in force are still teacher-forced top-1 (the commit's own facts: efficacy; those of
// earlier commits: retention, on a fixed sample of them in a long history), and how much of the
// general knowledge the base model had is left (KnowledgeAccuracy; absent from rows stored before
// the knowledge probe). Values only: measuring is HealthCheck's job.
import Foundation
import Ledger

public struct HealthMetrics: Equatable {
    /// Perplexity of `HealthProbe.text` at this version.
    public var perplexity: Double
    public var probeTokens: Int
    /// Perplexity of the probe on the unedited base model; stored on root commits only, the
    /// reference their perplexity change is measured against.
    public var basePerplexity: Double?
    /// ‖Σ U Vᵀ‖_F over the lineage, per edited tensor.
    public var deltaNorms: [String: Double]
    /// Facts of this commit in force here, and how many of them are top-1.
    public var commitFacts: Int
    public var commitFactsTop1: Int
    /// Facts of earlier commits checked here (all of them, or a sample when there are more than
    /// `HealthCheck.retentionSampleSize`), and how many of them are still top-1.
    public var earlierFacts: Int
    public var earlierFactsTop1: Int
    /// Facts of earlier commits in force here; more than `earlierFacts` when they were sampled.
    public var earlierFactsInForce: Int
    /// General-knowledge accuracy (nil in rows stored before the knowledge probe existed).
    public var knowledge: KnowledgeAccuracy?

    /// Share of this commit's facts that are top-1 (nil for a commit without facts).
    public var efficacy: Double? { commitFacts == 0 ? nil : Double(commitFactsTop1) / Double(commitFacts) }
    /// Share of earlier facts in force that are still top-1 (nil when there are none).
    public var retention: Double? { earlierFacts == 0 ? nil : Double(earlierFactsTop1) / Double(earlierFacts) }
    /// Retention as "share (top-1/checked)", with the number in force when only a sample was checked.
    public var retentionText: String {
        let share = HealthFormat.share(earlierFactsTop1, earlierFacts)
        guard earlierFactsInForce > earlierFacts else { return share }
        return String(share.dropLast()) + ", a sample of \(earlierFactsInForce) facts)"
    }
    /// √(Σ ‖ΔW_t‖²) over the edited tensors: the size of the whole edit of this version.
    public var totalDeltaNorm: Double { sqrt(deltaNorms.values.reduce(0) { $0 + $1 * $1 }) }

    public var json: JSONValue {
        var object: [String: JSONValue] = [
            "perplexity": .number(perplexity), "probe_tokens": .integer(Int64(probeTokens)),
            "delta_norms": .object(deltaNorms.mapValues { .number($0) }), "delta_norm_total": .number(totalDeltaNorm),
            "commit_facts": .integer(Int64(commitFacts)), "commit_facts_top1": .integer(Int64(commitFactsTop1)),
            "earlier_facts": .integer(Int64(earlierFacts)), "earlier_facts_top1": .integer(Int64(earlierFactsTop1)),
            "earlier_facts_in_force": .integer(Int64(earlierFactsInForce)),
            "efficacy": efficacy.map { .number($0) } ?? .null, "retention": retention.map { .number($0) } ?? .null,
        ]
        if let basePerplexity { object["base_perplexity"] = .number(basePerplexity) }
        if let knowledge { object["knowledge"] = knowledge.json }
        return .object(object)
    }

    public init(perplexity: Double, probeTokens: Int, basePerplexity: Double? = nil, deltaNorms: [String: Double],
         commitFacts: Int, commitFactsTop1: Int, earlierFacts: Int, earlierFactsTop1: Int, earlierFactsInForce: Int? = nil,
         knowledge: KnowledgeAccuracy? = nil) {
        self.perplexity = perplexity
        self.probeTokens = probeTokens
        self.basePerplexity = basePerplexity
        self.deltaNorms = deltaNorms
        self.commitFacts = commitFacts
        self.commitFactsTop1 = commitFactsTop1
        self.earlierFacts = earlierFacts
        self.earlierFactsTop1 = earlierFactsTop1
        self.earlierFactsInForce = max(earlierFactsInForce ?? earlierFacts, earlierFacts)
        self.knowledge = knowledge
    }

    /// Reads stored metrics.
    /// - Throws: `MLEditError` naming the commit and field when one is missing or mistyped.
    public init(json: JSONValue, commitID: String) throws {
        func number(_ key: String) throws -> Double {
            guard let value = json[key]?.doubleValue else {
                throw MLEditError(.damaged, "health metrics of commit \(commitID.prefix(10)): field \(key) is missing or not a number")
            }
            return value
        }
        func count(_ key: String) throws -> Int {
            let value = try number(key)
            guard value >= 0, value == value.rounded(), value < 1e15 else {
                throw MLEditError(.damaged, "health metrics of commit \(commitID.prefix(10)): field \(key) is not a count")
            }
            return Int(value)
        }
        guard let norms = json["delta_norms"]?.objectValue else {
            throw MLEditError(.damaged, "health metrics of commit \(commitID.prefix(10)): field delta_norms is missing or not an object")
        }
        var deltaNorms: [String: Double] = [:]
        for (tensor, value) in norms {
            guard let norm = value.doubleValue else {
                throw MLEditError(.damaged, "health metrics of commit \(commitID.prefix(10)): delta_norms.\(tensor) is not a number")
            }
            deltaNorms[tensor] = norm
        }
        self.init(perplexity: try number("perplexity"), probeTokens: try count("probe_tokens"),
                  basePerplexity: json["base_perplexity"]?.doubleValue, deltaNorms: deltaNorms,
                  commitFacts: try count("commit_facts"), commitFactsTop1: try count("commit_facts_top1"),
                  earlierFacts: try count("earlier_facts"), earlierFactsTop1: try count("earlier_facts_top1"),
                  earlierFactsInForce: json["earlier_facts_in_force"] == nil ? nil : try count("earlier_facts_in_force"),
                  knowledge: try json["knowledge"].map { try KnowledgeAccuracy(json: $0, commitID: commitID) })
    }

    /// Relative change of the perplexity against the parent's (root commits: the base model's).
    public func perplexityChange(parent: HealthMetrics?) -> Double? {
        guard let reference = parent?.perplexity ?? basePerplexity, reference > 0 else { return nil }
        return perplexity / reference - 1
    }

    /// Relative growth of each tensor's cumulative delta norm against the parent's; tensors the
    /// parent had not edited (norm 0) have no growth figure.
    public func normGrowth(parent: HealthMetrics?) -> [String: Double] {
        guard let parent else { return [:] }
        var out: [String: Double] = [:]
        for (tensor, norm) in deltaNorms {
            if let before = parent.deltaNorms[tensor], before > 0 { out[tensor] = norm / before - 1 }
        }
        return out
    }
}

/// When `mledit commit` warns about the health of the new version.
public struct HealthLimits: Equatable, Sendable {
    /// Largest relative rise of the probe perplexity against the parent (0.1: 10 %); nil: no check.
    public var maxPerplexityIncrease: Double?
    /// Largest relative growth of an edited tensor's cumulative delta norm against the parent
    /// (1.0: doubling); nil: no check.
    public var maxNormGrowth: Double?

    public static let defaults = HealthLimits(maxPerplexityIncrease: 0.1, maxNormGrowth: 1.0)

    public init(maxPerplexityIncrease: Double?, maxNormGrowth: Double?) {
        self.maxPerplexityIncrease = maxPerplexityIncrease
        self.maxNormGrowth = maxNormGrowth
    }

    /// The warnings for `metrics` against its parent's (nil for a root commit).
    public func warnings(_ metrics: HealthMetrics, parent: HealthMetrics?) -> [String] {
        var out: [String] = []
        if let limit = maxPerplexityIncrease, let change = metrics.perplexityChange(parent: parent), change > limit {
            let reference = parent?.perplexity ?? metrics.basePerplexity ?? .nan
            out.append("warning: probe perplexity rose by \(HealthFormat.percent(change)) (\(HealthFormat.decimal(reference)) → \(HealthFormat.decimal(metrics.perplexity))), above the limit of \(HealthFormat.percent(limit)) (--max-perplexity-increase)")
        }
        if let limit = maxNormGrowth {
            for (tensor, growth) in metrics.normGrowth(parent: parent).sorted(by: { $0.key < $1.key }) where growth > limit {
                let before = parent?.deltaNorms[tensor] ?? .nan
                out.append("warning: cumulative delta norm of \(tensor) grew by \(HealthFormat.percent(growth)) (\(HealthFormat.decimal(before)) → \(HealthFormat.decimal(metrics.deltaNorms[tensor] ?? .nan))), above the limit of \(HealthFormat.percent(limit)) (--max-norm-growth)")
            }
        }
        return out
    }
}

/// Number formatting shared by the health lines and the report.
public enum HealthFormat {
    /// A signed percentage with one decimal: "+12.5%".
    public static func percent(_ share: Double) -> String {
        let text = String(format: "%.1f%%", share * 100)
        return share >= 0 ? "+" + text : text
    }

    /// Four significant digits: 23.41, 0.005213.
    public static func decimal(_ value: Double) -> String { String(format: "%.4g", value) }

    /// "90% (9/10)", or "n/a" when there is nothing to count.
    public static func share(_ numerator: Int, _ denominator: Int) -> String {
        denominator == 0 ? "n/a" : "\(Int((Double(numerator) / Double(denominator) * 100).rounded()))% (\(numerator)/\(denominator))"
    }
}
