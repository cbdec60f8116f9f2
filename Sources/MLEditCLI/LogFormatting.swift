// How `mledit log` writes a commit besides its default header: `--format` placeholders as git
// spells them, and `--graph`'s lanes — every commit reachable from a branch, a tag or HEAD,
// children above parents, a lane per line of history, `|/` where two lines meet.
import Foundation
import Ledger

enum LogFormatting {
    /// The placeholders `--format` understands.
    static let placeholders = "%H (id), %h (short id), %s (subject), %b (body), %an (author), %ad (date), %m (method), %p/%P (parent), %n (newline), %% (percent)"

    /// `format` with its placeholders replaced for `summary`.
    /// - Throws: `UsageError` for an unknown placeholder.
    static func render(_ format: String, _ summary: CommitSummary) throws -> String {
        let record = summary.record
        let body = record.message.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
        let values: [String: String] = [
            "H": record.id, "h": RevisionFormatting.short(record.id), "s": RevisionFormatting.subject(record.message),
            "b": body.count > 1 ? String(body[1]).trimmingCharacters(in: .newlines) : "",
            "an": record.author, "ad": RevisionFormatting.date(record.createdAt), "m": record.method,
            "p": record.parentID.map(RevisionFormatting.short) ?? "", "P": record.parentID ?? "", "n": "\n", "%": "%",
        ]
        var out = ""
        var rest = Substring(format)
        while let percent = rest.firstIndex(of: "%") {
            out += rest[..<percent]
            rest = rest[rest.index(after: percent)...]
            guard let key = ["an", "ad", "H", "h", "s", "b", "m", "p", "P", "n", "%"].first(where: { rest.hasPrefix($0) }),
                  let value = values[key] else {
                throw UsageError("--format: unknown placeholder '%\(rest.prefix(2))'; known: \(placeholders)", command: "log")
            }
            out += value
            rest = rest.dropFirst(key.count)
        }
        return out + rest
    }

    /// Children before parents, newest first among those ready.
    static func topologicalOrder(_ commits: [CommitRecord]) -> [CommitRecord] {
        var waiting: [String: Int] = [:]
        for commit in commits { if let parent = commit.parentID { waiting[parent, default: 0] += 1 } }
        var ready = commits.filter { waiting[$0.id, default: 0] == 0 }
        let byID = Dictionary(commits.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        var order: [CommitRecord] = []
        while !ready.isEmpty {
            ready.sort { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
            let next = ready.removeFirst()
            order.append(next)
            if let parent = next.parentID, let record = byID[parent] {
                waiting[parent, default: 1] -= 1
                if waiting[parent] == 0 { ready.append(record) }
            }
        }
        return order
    }

    /// The graph's lines: for each commit in `order`, the connector lines it needs, then its own
    /// row with `text(commit)` after the lanes.
    static func graph(_ order: [CommitRecord], text: (CommitRecord) -> String, paint: (String) -> String) -> [String] {
        var lanes: [String] = []
        var lines: [String] = []
        /// The line drawn when `lane` ends: merging into a lane on its left (`|/`), or as a root.
        func connector(removing lane: Int, merging: Bool) -> String {
            var characters = Array(repeating: Character(" "), count: 2 * lanes.count)
            for i in lanes.indices where i != lane || merging {
                if i < lane { characters[2 * i] = "|" } else { characters[2 * i - 1] = "/" }
            }
            return String(characters).replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        for commit in order {
            var column = lanes.firstIndex(of: commit.id) ?? {
                lanes.append(commit.id)
                return lanes.count - 1
            }()
            // Other lines of history that continue into this commit end here.
            while let other = lanes.lastIndex(of: commit.id), other != column {
                lines.append(connector(removing: other, merging: true))
                lanes.remove(at: other)
                if other < column { column -= 1 }
            }
            let row = lanes.indices.map { $0 == column ? paint("*") : "|" }.joined(separator: " ")
            lines.append(row + " " + text(commit))
            if let parent = commit.parentID {
                lanes[column] = parent
            } else {
                if column < lanes.count - 1 { lines.append(connector(removing: column, merging: false)) }
                lanes.remove(at: column)
            }
        }
        return lines
    }
}
