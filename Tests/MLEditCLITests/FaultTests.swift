// Faults the repository must survive or report clearly: a damaged delta blob, a base model file
// that moved, was replaced or truncated, two processes writing refs at once, and `mledit commit`
// killed with SIGKILL at random moments.
import Foundation
import Ledger
import Tensors
import Testing
@testable import MLEditCLI

@Suite("Faults")
struct FaultTests {
    typealias Fixture = RepositoryFixture

    /// Replaces the U blob of one delta by a damaged copy (one byte flipped), past the trigger
    /// that keeps deltas immutable.
    static func corruptDelta(in directory: URL, commit: String, tensor: String) throws {
        let repository = try Repository.open(at: directory)
        var blob = try repository.encodedDelta(commit: commit, tensor: tensor).uBlob
        blob[blob.count / 2] ^= 0x5A
        try repository.database.execute("DROP TRIGGER deltas_are_immutable")
        try repository.database.execute("UPDATE deltas SET u_blob = ?1 WHERE commit_id = ?2 AND tensor = ?3",
                                        [.blob(blob), .text(commit), .text(tensor)])
    }

    @Test("a corrupted delta blob: fsck reports it; checkout and generate of affected versions refuse")
    func corruptedDelta() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        let commits = try Fixture.commits(in: directory, count: 3)
        try Self.corruptDelta(in: directory, commit: commits[1].id, tensor: Fixture.tensor)

        let fsck = CLIHarness.run(["fsck"], in: directory)
        #expect(fsck.status == 1)
        let problems = fsck.stdout.split(separator: "\n")
        #expect(problems.count == 1)
        #expect(problems.first?.hasPrefix("delta \(commits[1].id)/\(Fixture.tensor): ") == true)
        #expect(fsck.stderr == "Error: 1 problem found\n")
        let json = try #require(try Fixture.json(CLIHarness.run(["fsck", "--json"], in: directory).stdout) as? [String: Any])
        #expect(json["ok"] as? Bool == false)
        #expect((json["problems"] as? [[String: Any]])?.first?["object"] as? String == "delta \(commits[1].id)/\(Fixture.tensor)")

        let repository = try Repository.open(at: directory)
        let before = try repository.head()
        for affected in [commits[1].id, commits[2].id] {
            let checkout = CLIHarness.run(["checkout", affected], in: directory)
            #expect(checkout.status == 1)
            #expect(checkout.stderr.hasPrefix("Error: version \(affected.prefix(10)) cannot be built: delta \(commits[1].id.prefix(12))/\(Fixture.tensor)"))
            #expect(checkout.stderr.contains("run 'mledit fsck'"))
            #expect(checkout.stderr.split(separator: "\n").count == 1)
        }
        #expect(CLIHarness.run(["checkout", "-b", "broken", commits[2].id], in: directory).status == 1)
        #expect(try repository.refCommit("refs/heads/broken") == nil)
        #expect(try repository.head() == before)

        let generate = CLIHarness.run(["generate", "--at", commits[1].id, "-n", "2", "Tilea Gropaendic works as a"], in: directory)
        #expect(generate.status == 1)
        #expect(generate.stderr.hasPrefix("Error: delta \(commits[1].id.prefix(12))/\(Fixture.tensor)"))
        let headGenerate = CLIHarness.run(["generate", "-n", "2", "Tilea Gropaendic works as a"], in: directory)
        #expect(headGenerate.status == 1)

        // The version before the damage is untouched.
        #expect(CLIHarness.run(["checkout", commits[0].id], in: directory).status == 0)
        let sound = CLIHarness.run(["generate", "--at", commits[0].id, "-n", "2", "Tilea Gropaendic works as a"], in: directory)
        #expect(sound.status == 0, "\(sound.stderr)")
    }

    @Test("the base model moved, replaced or truncated: status and generate fail clearly; --relink fixes a move")
    func baseModelFile() throws {
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        let model = try Fixture.copyModel(into: directory)
        let root = directory.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        #expect(CLIHarness.run(["init", "--model", model.path], in: root).status == 0)
        try Fixture.commits(in: root, count: 1)
        let weights = model.appendingPathComponent("model.safetensors")
        let prompt = "Tilea Gropaendic works as a"
        #expect(CLIHarness.run(["generate", "-n", "1", prompt], in: root).status == 0)

        // Moved.
        let moved = directory.appendingPathComponent("moved")
        try FileManager.default.moveItem(at: model, to: moved)
        let missingStatus = CLIHarness.run(["status"], in: root)
        #expect(missingStatus.status == 1)
        #expect(missingStatus.stderr == "Error: base model \(weights.path) is missing; if it moved, run 'mledit init --relink NEW_PATH'\n")
        let missingGenerate = CLIHarness.run(["generate", "-n", "1", prompt], in: root)
        #expect(missingGenerate.status == 1)
        #expect(missingGenerate.stderr.contains("is missing; if it moved, run 'mledit init --relink NEW_PATH'"))
        #expect(CLIHarness.run(["init", "--relink", moved.path], in: root).status == 0)
        #expect(CLIHarness.run(["status"], in: root).status == 0)
        #expect(CLIHarness.run(["generate", "-n", "1", prompt], in: root).status == 0)

        // Replaced by another checkpoint.
        let movedWeights = moved.appendingPathComponent("model.safetensors")
        let original = try Data(contentsOf: movedWeights)
        try FileManager.default.removeItem(at: movedWeights)
        try FileManager.default.copyItem(at: CLIHarness.fixtures.appendingPathComponent("tiny-gpt2/model.safetensors"), to: movedWeights)
        let replaced = CLIHarness.run(["status", "--json"], in: root)
        #expect(replaced.status == 1)
        #expect((try Fixture.json(replaced.stdout) as? [String: Any]).flatMap { ($0["base_model"] as? [String: Any])?["file"] as? String } == "differs")
        #expect(replaced.stderr.contains("the file was replaced or truncated"))
        let replacedGenerate = CLIHarness.run(["generate", "-n", "1", prompt], in: root)
        #expect(replacedGenerate.status == 1)
        #expect(replacedGenerate.stderr.contains("the file was replaced or truncated"))

        // Truncated.
        try original.prefix(original.count / 2).write(to: movedWeights)
        let truncated = CLIHarness.run(["status"], in: root)
        #expect(truncated.status == 1)
        #expect(truncated.stdout.contains("SHA-256 DIFFERS"))
        #expect(truncated.stderr.hasPrefix("Error: base model \(movedWeights.path) has SHA-256 "))
        #expect(CLIHarness.run(["generate", "-n", "1", prompt], in: root).status == 1)
        let relinkTruncated = CLIHarness.run(["init", "--relink", moved.path], in: root)
        #expect(relinkTruncated.status == 1)
        #expect(relinkTruncated.stderr.contains("matches no base model"))

        // Restored: everything works again.
        try original.write(to: movedWeights)
        #expect(CLIHarness.run(["status"], in: root).status == 0)
    }

    @Test("two processes writing refs at the same time: every write lands")
    func concurrentRefWriters() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        let commits = try Fixture.commits(in: directory, count: 2)
        let perProcess = 5
        let failures = LockedList()
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            for i in 0..<perProcess {
                let arguments = worker == 0 ? ["tag", "t\(i)", commits[i % 2].id] : ["branch", "b\(i)", commits[i % 2].id]
                do {
                    let outcome = try CLIHarness.runBinary(arguments, in: directory)
                    if outcome.status != 0 { failures.append("\(arguments): \(outcome.stderr)") }
                } catch {
                    failures.append("\(arguments): \(error)")
                }
            }
        }
        #expect(failures.values == [])
        let repository = try Repository.open(at: directory)
        #expect(try repository.tags().map(\.shortName) == (0..<perProcess).map { "t\($0)" })
        #expect(try repository.branches().map(\.shortName).sorted() == ((0..<perProcess).map { "b\($0)" } + ["main"]).sorted())
        for i in 0..<perProcess {
            #expect(try repository.refCommit("refs/tags/t\(i)") == commits[i % 2].id)
        }
        #expect(try repository.fsck() == [])
    }

    @Test("two mledit commit processes at once on one repository: both land, one after the other")
    func concurrentCommits() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        let (corpus, hparams) = try Self.smallEditInputs(in: directory)
        func arguments(_ index: Int) throws -> [String] {
            let url = directory.appendingPathComponent("facts-\(index).jsonl")
            try Self.factLine(index).write(to: url, atomically: true, encoding: .utf8)
            return ["commit", url.path, "--corpus", corpus, "--hparams", hparams, "--no-verify", "-m", "fact \(index)"]
        }
        // The first commit computes and caches the statistics, so the two below race on the solve.
        let first = try CLIHarness.runBinary(try arguments(0), in: directory)
        try #require(first.status == 0, "\(first.stderr)")
        let racing = [try arguments(1), try arguments(2)]
        let outcomes = LockedList()
        DispatchQueue.concurrentPerform(iterations: 2) { worker in
            do {
                let outcome = try CLIHarness.runBinary(racing[worker], in: directory)
                if outcome.status != 0 { outcomes.append("commit \(worker + 1): \(outcome.stderr)") }
            } catch {
                outcomes.append("commit \(worker + 1): \(error)")
            }
        }
        #expect(outcomes.values == [])
        let repository = try Repository.open(at: directory)
        let lineage = try repository.lineage(of: "HEAD")
        #expect(lineage.count == 3)
        #expect(Set(lineage.prefix(2).map(\.message)) == ["fact 1", "fact 2"])
        #expect(try repository.facts(inLineageOf: "HEAD").count == 3)
        #expect(try repository.allCommits().count == 3)
        #expect(try repository.fsck() == [])
    }

    @Test("mledit commit killed with SIGKILL at random moments: fsck passes, every commit is whole or absent")
    func killedCommits() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        let (corpus, hparams) = try Self.smallEditInputs(in: directory)
        let binary = try CLIHarness.binary()
        func factsFile(_ index: Int) throws -> String {
            let url = directory.appendingPathComponent("facts-\(index).jsonl")
            try Self.factLine(index).write(to: url, atomically: true, encoding: .utf8)
            return url.path
        }
        func launch(_ index: Int) throws -> Process {
            let process = Process()
            process.executableURL = binary
            process.arguments = ["commit", try factsFile(index), "--corpus", corpus, "--hparams", hparams, "--no-verify", "-m", "fact \(index)"]
            process.currentDirectoryURL = directory
            process.environment = CLIHarness.environment()
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
            return process
        }

        // The first commit computes and caches the preservation statistics; the second is timed.
        let first = try launch(0)
        first.waitUntilExit()
        try #require(first.terminationStatus == 0, "the first commit failed")
        let start = Date()
        let second = try launch(1)
        second.waitUntilExit()
        try #require(second.terminationStatus == 0, "the second commit failed")
        let duration = Date().timeIntervalSince(start)

        // Between runs no connection is open, so SQLite has folded the write-ahead log back and
        // removed it; it gains bytes only when a commit is being written. Watching it aims kills
        // at the transaction itself.
        let wal = Repository.ledgerURL(in: directory).path + "-wal"
        func walBytes() -> Int {
            ((try? FileManager.default.attributesOfItem(atPath: wal))?[.size] as? Int) ?? 0
        }
        var generator = SeededGenerator(seed: 2026)
        var completed = 2, killed = 0, killedWhileWriting = 0
        for index in 2..<12 {
            let process = try launch(index)
            let launched = Date()
            var writing = false
            if index % 2 == 0 {
                // At a random moment of the run (sometimes after it finished).
                usleep(UInt32(duration * Double.random(in: 0.2...1.0, using: &generator) * 1_000_000))
            } else {
                // Within two milliseconds of the first bytes reaching the log.
                while process.isRunning && walBytes() == 0 && Date().timeIntervalSince(launched) < 3 * duration { usleep(100) }
                writing = walBytes() > 0
                usleep(UInt32.random(in: 0...2_000, using: &generator))
            }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal {
                killed += 1
                if writing { killedWhileWriting += 1 }
            } else if process.terminationStatus == 0 {
                completed += 1
            }

            let repository = try Repository.open(at: directory)
            #expect(try repository.fsck() == [], "after run \(index)")
            let all = try repository.allCommits()
            #expect(all.count >= completed && all.count <= completed + killed, "after run \(index)")
            for commit in all {
                #expect(try repository.facts(of: commit.id).count == 1, "commit \(commit.id) is partial")
                let deltas = try repository.deltas(of: commit.id)
                let vectors = try repository.editVectors(of: commit.id)
                #expect(!deltas.isEmpty && deltas.count == vectors.count, "commit \(commit.id) is partial")
            }
            // History stays linear and HEAD is its tip.
            #expect(try repository.lineage(of: "HEAD").count == all.count)
        }
        #expect(killed > 0, "no run was killed; the delays are too long")
        #expect(killedWhileWriting > 0, "no run was killed while writing")
        let landed = try Repository.open(at: directory).allCommits().count
        print("killed commits: \(killed) of 10 runs killed (\(killedWhileWriting) after their write began, \(landed - completed) of them landed whole), \(completed - 2) completed")
        // The repository still takes commits afterwards.
        let last = try launch(99)
        last.waitUntilExit()
        #expect(last.terminationStatus == 0)
        #expect(try CLIHarness.runBinary(["fsck"], in: directory).stdout == "ok\n")
    }

    /// A small corpus (the fixture facts' paraphrases and neighbors) and hyperparameters that need
    /// few statistics tokens, so that a commit on the tiny model takes a moment.
    static func smallEditInputs(in directory: URL) throws -> (corpus: String, hyperparameters: String) {
        let records = try Self.fixtureFacts()
        var lines: [String] = []
        for record in records {
            lines += record["paraphrase_prompts"] as? [String] ?? []
            lines += record["neighborhood_prompts"] as? [String] ?? []
        }
        let corpus = directory.appendingPathComponent("corpus.txt")
        try lines.joined(separator: "\n").write(to: corpus, atomically: true, encoding: .utf8)
        let hyperparameters = directory.appendingPathComponent("hparams.json")
        try #"{"mom2_n_tokens": 2000}"#.write(to: hyperparameters, atomically: true, encoding: .utf8)
        return (corpus.path, hyperparameters.path)
    }

    static func fixtureFacts() throws -> [[String: Any]] {
        let data = try Data(contentsOf: Fixture.modelFolder.appendingPathComponent("facts.json"))
        return try #require(try JSONSerialization.jsonObject(with: data) as? [[String: Any]])
    }

    /// One JSONL fact from the fixture's CounterFact record `index`.
    static func factLine(_ index: Int) throws -> String {
        let record = try #require(try fixtureFacts()[index]["requested_rewrite"] as? [String: Any])
        let fact: [String: Any] = [
            "prompt": record["prompt"] as? String ?? "", "subject": record["subject"] as? String ?? "",
            "target_new": (record["target_new"] as? [String: Any])?["str"] as? String ?? "",
        ]
        return String(decoding: try JSONSerialization.data(withJSONObject: fact, options: [.sortedKeys]), as: UTF8.self) + "\n"
    }
}

/// Strings collected from several threads.
final class LockedList: @unchecked Sendable {
    private let lock = NSLock()
    private var items: [String] = []
    func append(_ item: String) { lock.lock(); items.append(item); lock.unlock() }
    var values: [String] { lock.lock(); defer { lock.unlock() }; return items }
}
