// How much of what the unedited model knew a version still knows: of the general-knowledge
// candidates (KnowledgeProbe) the base model answered top-1, the share still answered top-1 at
// this version, leaving out those an edit in force is about. Part of a version's HealthMetrics;
// a value only — measuring is HealthCheck's job.
import Foundation
import Ledger

public struct KnowledgeAccuracy: Equatable, Sendable {
    /// SHA-256 of the candidate list the figures refer to (`HealthCheck.knowledgeDigest`).
    public var candidatesDigest: String
    /// Size of the candidate list.
    public var candidates: Int
    /// Candidates the base model of this lineage answers top-1.
    public var baseKnown: Int
    /// Base-known candidates left out here because a fact in force is about them.
    public var excluded: Int
    /// Base-known candidates checked here: all that are not excluded, or those of a fixed sample
    /// (`HealthCheck.knowledgeSampleSize`) when the base knows more.
    public var checked: Int
    /// Of the checked candidates, those still answered top-1.
    public var top1: Int

    public init(candidatesDigest: String, candidates: Int, baseKnown: Int, excluded: Int, checked: Int, top1: Int) {
        self.candidatesDigest = candidatesDigest
        self.candidates = candidates
        self.baseKnown = baseKnown
        self.excluded = excluded
        self.checked = checked
        self.top1 = top1
    }

    /// The share of checked candidates still known (nil when none is checked).
    public var accuracy: Double? { checked == 0 ? nil : Double(top1) / Double(checked) }

    /// Base-known candidates in force here; more than `checked` when a sample was checked.
    public var inForce: Int { baseKnown - excluded }

    /// "98% (120/122, 3 excluded as edited)", with the number in force when only a sample was
    /// checked, or why there is no figure.
    public var text: String {
        if baseKnown == 0 { return "n/a (the base model knows none of the \(candidates) candidates)" }
        if checked == 0 { return "n/a (all \(baseKnown) known candidates excluded as edited)" }
        var notes: [String] = []
        if inForce > checked { notes.append("a sample of \(inForce) facts") }
        if excluded > 0 { notes.append("\(excluded) excluded as edited") }
        let share = HealthFormat.share(top1, checked)
        return notes.isEmpty ? share : String(share.dropLast()) + ", " + notes.joined(separator: ", ") + ")"
    }

    public var json: JSONValue {
        .object([
            "candidates_sha256": .string(candidatesDigest), "candidates": .integer(Int64(candidates)),
            "base_known": .integer(Int64(baseKnown)), "excluded": .integer(Int64(excluded)),
            "checked": .integer(Int64(checked)), "top1": .integer(Int64(top1)),
            "accuracy": accuracy.map { .number($0) } ?? .null,
        ])
    }

    /// Reads stored figures.
    /// - Throws: `MLEditError` naming the commit and field when one is missing, mistyped or
    ///   inconsistent with the others.
    public init(json: JSONValue, commitID: String) throws {
        func damaged(_ what: String) -> MLEditError {
            MLEditError(.damaged, "health metrics of commit \(commitID.prefix(10)): knowledge.\(what)")
        }
        func count(_ key: String) throws -> Int {
            guard let value = json[key]?.doubleValue, value >= 0, value == value.rounded(), value < 1e15 else {
                throw damaged("\(key) is missing or not a count")
            }
            return Int(value)
        }
        guard let digest = json["candidates_sha256"]?.stringValue else { throw damaged("candidates_sha256 is missing or not a string") }
        self.init(candidatesDigest: digest, candidates: try count("candidates"), baseKnown: try count("base_known"),
                  excluded: try count("excluded"), checked: try count("checked"), top1: try count("top1"))
        guard baseKnown <= candidates, excluded <= baseKnown, checked <= inForce, top1 <= checked else {
            throw damaged("counts do not add up (candidates \(candidates), base_known \(baseKnown), excluded \(excluded), checked \(checked), top1 \(top1))")
        }
    }
}
