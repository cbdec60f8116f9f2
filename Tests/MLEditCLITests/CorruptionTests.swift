// A damaged ledger, one table or blob kind at a time: each copy of a three-commit repository gets
// one corruption, then fsck must name the damaged object, the commands that would use it must
// refuse with a one-line error (no crash), and none of them may change the ledger's bytes or
// leave a temporary file behind.
import Foundation
import Ledger
import Testing
@testable import MLEditCLI

@Suite("corrupted ledger")
struct CorruptionTests {
    struct Case {
        var name: String
        var sql: String
        /// What fsck's report must mention.
        var fsckMentions: String
        /// Commands that must refuse, and what their error must mention.
        var refusals: [([String], String)]
    }

    static func cases(_ ids: [String]) -> [Case] {
        let generate = ["generate", "The", "--max-tokens", "1"]
        func flip(_ table: String, _ column: String, _ condition: String) -> String {
            "\(table)|\(column)|\(condition)"
        }
        return [
            Case(name: "delta U blob", sql: flip("deltas", "u_blob", "commit_id = '\(ids[1])'"),
                 fsckMentions: "delta \(ids[1])/", refusals: [(generate, String(ids[1].prefix(12)))]),
            Case(name: "delta V blob truncated", sql: "UPDATE deltas SET v_blob = substr(v_blob, 1, 10) WHERE commit_id = '\(ids[0])'",
                 fsckMentions: "delta \(ids[0])/", refusals: [(generate, String(ids[0].prefix(12)))]),
            Case(name: "delta checksum", sql: "UPDATE deltas SET sha256 = printf('%064d', 0) WHERE commit_id = '\(ids[2])'",
                 fsckMentions: "commit \(ids[2])", refusals: [(generate, String(ids[2].prefix(12)))]),
            Case(name: "fact target", sql: "UPDATE facts SET target_new = 'Atlantis' WHERE commit_id = '\(ids[0])'",
                 fsckMentions: "commit \(ids[0])", refusals: [(generate, String(ids[0].prefix(12)))]),
            Case(name: "commit hyperparameters", sql: "UPDATE commits SET hyperparameters = '{}' WHERE id = '\(ids[1])'",
                 fsckMentions: "commit \(ids[1])", refusals: [(generate, String(ids[1].prefix(12)))]),
            Case(name: "edit vectors", sql: flip("edit_vectors", "keys", "commit_id = '\(ids[2])'"),
                 fsckMentions: "edit vectors of \(ids[2])", refusals: [(["commit", "a.jsonl", "-m", "again"], "checksum")]),
            Case(name: "edit targets", sql: flip("edit_targets", "targets", "commit_id = '\(ids[2])'"),
                 fsckMentions: "edit targets of \(ids[2])", refusals: [(["revert", "HEAD~1"], "checksum")]),
            Case(name: "preservation statistics", sql: flip("preservation_stats", "blob", "1 = 1"),
                 fsckMentions: "preservation statistics", refusals: [(["commit", "a.jsonl", "-m", "again"], "checksum")]),
            Case(name: "branch ref", sql: "UPDATE refs SET commit_id = printf('%064d', 7) WHERE name = 'refs/heads/main'",
                 fsckMentions: "ref refs/heads/main", refusals: [(generate, "not found")]),
            Case(name: "base model digest", sql: "UPDATE base_models SET sha256 = printf('%064d', 1)",
                 fsckMentions: "base model #1", refusals: [(generate, "SHA-256")]),
        ]
    }

    /// Applies a case's corruption: SQL, or "table|column|condition" for one byte flipped in the
    /// middle of each selected blob.
    static func corrupt(_ box: HistoryTests.Sandbox, _ item: Case) throws {
        let parts = item.sql.split(separator: "|").map(String.init)
        guard parts.count == 3 else { return try VerifiedHistoryTests.tamper(box, item.sql, []) }
        let repository = try Repository.open(at: box.directory)
        let rows = try repository.database.query("SELECT rowid, \(parts[1]) FROM \(parts[0]) WHERE \(parts[2])", []) {
            (try $0.int64(0), try $0.blob(1))
        }
        try #require(!rows.isEmpty, "\(item.name): nothing to corrupt")
        for (rowid, blob) in rows {
            var damaged = blob
            damaged[damaged.count / 2] ^= 0x5A
            try VerifiedHistoryTests.tamper(box, "UPDATE \(parts[0]) SET \(parts[1]) = ?1 WHERE rowid = ?2", [.blob(damaged), .integer(rowid)])
        }
    }

    @Test("one corruption at a time: fsck names it, the commands using it refuse, the ledger's bytes stay, no temp files")
    func everyTableAndBlob() throws {
        let pristine = try HistoryTests.Sandbox()
        defer { CLIHarness.cleanUp(pristine.directory) }
        let ids = try VerifiedHistoryTests.threeCommits(pristine)
        for item in Self.cases(ids) {
            let box = try HistoryTests.Sandbox()
            defer { CLIHarness.cleanUp(box.directory) }
            try FileManager.default.copyItem(at: pristine.directory.appendingPathComponent(".mledit"),
                                             to: box.directory.appendingPathComponent(".mledit"))
            try Self.corrupt(box, item)
            let ledger = try SafeOutputTests.ledgerBytes(box.directory)
            let fsck = box.run(["fsck"], expecting: 1)
            #expect(fsck.stdout.contains(item.fsckMentions), "\(item.name): fsck said \(fsck.stdout)")
            for (arguments, mention) in item.refusals {
                let outcome = box.run(arguments, expecting: 1)
                let errors = outcome.stderr.split(separator: "\n").filter { $0.hasPrefix("Error: ") }
                #expect(errors.count == 1 && errors[0].contains(mention), "\(item.name): \(arguments): \(outcome.stderr)")
            }
            #expect(try SafeOutputTests.ledgerBytes(box.directory) == ledger, "\(item.name): a refused command changed the ledger")
            let hidden = try FileManager.default.contentsOfDirectory(atPath: box.directory.path).filter { $0.hasSuffix(".tmp") }
            #expect(hidden.isEmpty, "\(item.name): left \(hidden)")
        }
    }

    @Test("a damaged cached memory sum: fsck names it; fsck --drop-caches removes it and passes; the history stays")
    func damagedMemoryCache() throws {
        let box = try HistoryTests.Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        let ids = try VerifiedHistoryTests.threeCommits(box)
        let repository = try Repository.open(at: box.directory)
        let facts = try repository.facts(inLineageOf: ids[2])
        try repository.database.execute("""
            INSERT INTO memory_grams (commit_id, layer, fact_count, dimension, sha256, blob, created_at)
            VALUES (?1, 1, 3, 2, ?2, ?3, '2026-12-02T00:00:00Z')
            """, [.text(ids[2]), .text(String(repeating: "0", count: 64)), .blob([1, 2, 3])])
        let fsck = box.run(["fsck"], expecting: 1)
        #expect(fsck.stdout.contains("memory of \(ids[2]) layer 1"), "fsck said \(fsck.stdout)")
        let dropped = box.run(["fsck", "--drop-caches"], expecting: 0)
        #expect(dropped.stdout.contains("ok") && dropped.stderr.contains("dropped the cached memory sums"), "\(dropped)")
        #expect(try repository.cachedMemoryGramKeys().isEmpty)
        #expect(try repository.facts(inLineageOf: ids[2]) == facts && !facts.isEmpty)
    }
}
