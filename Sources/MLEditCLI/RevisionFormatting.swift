// How the history commands (log, show, status, branch, tag) present commits and refs: a commit's
// summary figures (facts, tensors, rank, stored bytes, efficacy), short ids, dates, sizes, ref
// decorations, and the JSON forms. Presentation only: it reads the ledger and never writes.
import Foundation
import Ledger

/// A commit with the figures the history commands print about it.
struct CommitSummary {
    var record: CommitRecord
    var factCount: Int
    var deltas: [DeltaRecord]
    /// The newest stored evaluation with an "efficacy" metric, if any.
    var evaluated: (efficacy: Double, at: String, dataset: String)?

    var totalRank: Int { deltas.reduce(0) { $0 + $1.rank } }
    var storedBytes: Int { deltas.reduce(0) { $0 + $1.storedBytes } }

    init(_ record: CommitRecord, repository: Repository) throws {
        self.record = record
        factCount = try repository.factCount(of: record.id)
        deltas = try repository.deltas(of: record.id)
        evaluated = try repository.evaluations(of: record.id)
            .compactMap { evaluation in evaluation.metrics["efficacy"]?.doubleValue.map { ($0, evaluation.createdAt, evaluation.datasetDigest) } }
            .max { $0.1 < $1.1 }
    }

    /// The JSON form shared by `log --json` and `show --json`.
    var json: [String: Any] {
        var out: [String: Any] = [
            "id": record.id, "parent": record.parentID ?? NSNull(), "author": record.author, "date": record.createdAt,
            "message": record.message, "kind": record.kind.rawValue, "method": record.method, "facts": factCount,
            "tensors": deltas.map(\.tensor), "total_rank": totalRank, "stored_bytes": storedBytes,
            "efficacy_at_commit": record.efficacy ?? NSNull(), "base_model_sha256": record.baseModelDigest,
        ]
        if let evaluated {
            out["efficacy_evaluated"] = ["efficacy": evaluated.efficacy, "date": evaluated.at, "dataset_sha256": evaluated.dataset]
        }
        if let source = record.sourceCommitID { out["source_commit"] = source }
        if let verification = record.verification, let object = try? RevisionFormatting.foundationObject(verification) {
            out["verification"] = object
        }
        if let reverted = record.revertedCommitID { out["reverted_commit"] = reverted }
        return out
    }

    /// "facts 3, 2 tensors (rank 6, 12.3 KiB)".
    var figuresLine: String {
        let tensors = deltas.count == 1 ? "1 tensor" : "\(deltas.count) tensors"
        return "\(factCount) fact\(factCount == 1 ? "" : "s"), \(tensors) (total rank \(totalRank), \(RevisionFormatting.bytes(storedBytes)))"
    }

    /// "100% at commit; 92% evaluated 2026-…", nil when nothing was measured.
    var efficacyLine: String? {
        var parts: [String] = []
        if let efficacy = record.efficacy { parts.append("\(RevisionFormatting.percent(efficacy)) at commit") }
        if let evaluated { parts.append("\(RevisionFormatting.percent(evaluated.efficacy)) evaluated \(RevisionFormatting.date(evaluated.at))") }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }
}

enum RevisionFormatting {
    /// The abbreviated id shown in human output.
    static func short(_ id: String) -> String { String(id.prefix(10)) }

    /// The branch a commit was made on as its summary line names it, or "detached HEAD".
    static func branchLabel(_ head: HeadState) -> String {
        switch head {
        case .branch(let name, _): return name.replacingOccurrences(of: "refs/heads/", with: "")
        case .detached: return "detached HEAD"
        }
    }

    /// The first line of a message.
    static func subject(_ message: String) -> String {
        message.split(whereSeparator: \.isNewline).first.map(String.init) ?? ""
    }

    /// A stored ISO 8601 time as git prints it ("Wed Nov 25 13:05:29 2026 +0000"); the stored
    /// text when it does not parse.
    static func date(_ stored: String) -> String {
        let parser = ISO8601DateFormatter()
        parser.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        guard let date = parser.date(from: stored) ?? plain.date(from: stored) else { return stored }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE MMM d HH:mm:ss yyyy '+0000'"
        return formatter.string(from: date)
    }

    /// 1536 -> "1.5 KiB".
    static func bytes(_ count: Int) -> String {
        if count < 1024 { return "\(count) B" }
        let units = ["KiB", "MiB", "GiB", "TiB"]
        var value = Double(count) / 1024
        var unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        return String(format: "%.1f %@", value, units[unit])
    }

    static func percent(_ share: Double) -> String { "\(Int((share * 100).rounded()))%" }

    /// Per commit id, the decorations git shows after it: "HEAD -> main", "tag: v1", "other".
    static func decorations(_ repository: Repository) throws -> [String: [String]] {
        var out: [String: [String]] = [:]
        let head = try repository.head()
        var attachedBranch: String?
        switch head {
        case .branch(let name, _): attachedBranch = name
        case .detached(let id): out[id, default: []].append("HEAD")
        }
        for branch in try repository.branches() {
            out[branch.commitID, default: []].append(branch.name == attachedBranch ? "HEAD -> \(branch.shortName)" : branch.shortName)
        }
        for tag in try repository.tags() { out[tag.commitID, default: []].append("tag: \(tag.shortName)") }
        return out
    }

    /// The short name of HEAD's branch, nil when detached.
    static func currentBranch(_ head: HeadState) -> String? {
        if case .branch(let name, _) = head { return shortBranchName(name) }
        return nil
    }

    static func shortBranchName(_ full: String) -> String {
        full.hasPrefix("refs/heads/") ? String(full.dropFirst("refs/heads/".count)) : full
    }

    /// A ledger JSON value as a Foundation object for `Console.printJSON`.
    static func foundationObject(_ value: JSONValue) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(try value.canonicalText().utf8), options: [.fragmentsAllowed])
    }

    /// The commit a user-given revision names; ledger errors are already one line.
    static func resolve(_ revision: String, in repository: Repository) throws -> String {
        do {
            return try repository.resolve(revision)
        } catch LedgerError.unbornBranch(let branch) {
            throw CommandFailure("'\(revision)': branch \(branch) has no commits yet")
        }
    }
}
