// What no command may do to a repository, whatever the user types: outputs that would overwrite
// the ledger, a base model or a folder of someone else's files are refused before any work, and
// nothing in the repository changes (its ledger compared byte for byte); the temporary files of
// a killed export are removed by the next one.
import Checkpoints
import Foundation
import Ledger
import Models
import Tensors
import Testing
@testable import MLEdit
@testable import MLEditCLI

@Suite("safe outputs")
struct SafeOutputTests {
    static func ledgerBytes(_ directory: URL) throws -> Data {
        try Data(contentsOf: Repository.ledgerURL(in: directory))
    }

    @Test("export and report onto or into .mledit, onto the base model, or over the repository are refused; the ledger is unchanged")
    func refusedOutputs() throws {
        let fixture = try ExportCommandTests.makeFixture()
        let directory = fixture.directory
        defer { CLIHarness.cleanUp(directory) }
        let before = try Self.ledgerBytes(directory)
        let cases: [([String], String)] = [
            (["export", "-o", ".mledit/ledger.sqlite"], "inside the repository's .mledit folder"),
            (["export", "-o", "sub/../.mledit/ledger.sqlite"], "inside the repository's .mledit folder"),
            (["export", "-o", ".mledit"], "is the repository's .mledit folder"),
            (["export", "-o", ".mledit/x", "--format", "safetensors", "--force"], "inside the repository's .mledit folder"),
            (["export", "-o", directory.path, "--format", "safetensors"], "holds the repository itself"),
            (["export", "-o", ".", "--format", "lora", "--force"], "holds the repository itself"),
            (["export", "-o", fixture.base.path], "is a model checkpoint mledit reads"),
            (["export", "-o", "base.gguf", "--force"], "is a model checkpoint mledit reads"),
            (["report", "-o", ".mledit/ledger.sqlite"], "inside the repository's .mledit folder"),
            (["report", "-o", ".mledit/ledger.sqlite", "--force"], "inside the repository's .mledit folder"),
            (["report", "-o", "base.gguf", "--force"], "is a model checkpoint mledit reads"),
        ]
        for (arguments, message) in cases {
            let outcome = CLIHarness.run(arguments, in: directory)
            #expect(outcome.status == 1, "\(arguments)")
            #expect(outcome.stderr.hasPrefix("Error: ") && outcome.stderr.contains(message), "\(arguments): \(outcome.stderr)")
            #expect(outcome.stderr.split(separator: "\n").count == 1, "\(arguments): \(outcome.stderr)")
        }
        // A symlink pointing into .mledit leads nowhere either.
        try FileManager.default.createSymbolicLink(atPath: directory.appendingPathComponent("link").path,
                                                   withDestinationPath: directory.appendingPathComponent(".mledit").path)
        let throughLink = CLIHarness.run(["export", "-o", "link/ledger.sqlite"], in: directory)
        #expect(throughLink.status == 1 && throughLink.stderr.contains(".mledit"), "\(throughLink.stderr)")
        #expect(try Self.ledgerBytes(directory) == before)
        #expect(FileManager.default.fileExists(atPath: fixture.base.path))
        #expect(try SHA256.hash(fileAt: fixture.base).hex == fixture.digest)
    }

    @Test("a file or folder mledit did not write is kept unless --force; a previous export is replaced; --force keeps other files")
    func foreignOutputs() throws {
        let fixture = try ExportCommandTests.makeFixture()
        let directory = fixture.directory
        defer { CLIHarness.cleanUp(directory) }
        let notes = directory.appendingPathComponent("notes.txt")
        try "mine".write(to: notes, atomically: true, encoding: .utf8)
        for arguments in [["export", "-o", "notes.txt"], ["report", "-o", "notes.txt"]] {
            let outcome = CLIHarness.run(arguments, in: directory)
            #expect(outcome.status == 1 && outcome.stderr.contains("was not written by mledit"), "\(arguments): \(outcome.stderr)")
            #expect(try String(contentsOf: notes, encoding: .utf8) == "mine")
        }
        // Previous outputs are replaced without asking.
        for arguments in [["export", "-o", "out.gguf"], ["report", "-o", "page.html"], ["export", "-o", "hf", "--format", "safetensors"]] {
            #expect(CLIHarness.run(arguments, in: directory).status == 0, "\(arguments)")
            let again = CLIHarness.run(arguments, in: directory)
            #expect(again.status == 0, "\(arguments) twice: \(again.stderr)")
        }
        #expect(CLIHarness.run(["export", "-o", "notes.txt", "--force"], in: directory).status == 0)
        #expect(OutputSafety.isExportedGGUF(notes))

        // A folder with the user's own file: refused, then with --force written beside it.
        let folder = directory.appendingPathComponent("hf")
        let own = folder.appendingPathComponent("README.md")
        try "keep me".write(to: own, atomically: true, encoding: .utf8)
        let refused = CLIHarness.run(["export", "-o", "hf", "--format", "safetensors"], in: directory)
        #expect(refused.status == 1 && refused.stderr.contains("holds files no export wrote (README.md)"), "\(refused.stderr)")
        let forced = CLIHarness.run(["export", "-o", "hf", "--format", "safetensors", "--force"], in: directory)
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try String(contentsOf: own, encoding: .utf8) == "keep me")
        _ = try ModelLoader.load(url: folder)
        let lora = CLIHarness.run(["export", "-o", "hf", "--format", "lora"], in: directory)
        #expect(lora.status == 1, "a LoRA adapter into a folder with foreign files: \(lora.stderr)")
    }

    @Test("the temporary files of a killed writer are removed by the next export to the same place; a live writer's are kept")
    func staleTemporaries() throws {
        let fixture = try ExportCommandTests.makeFixture()
        let directory = fixture.directory
        defer { CLIHarness.cleanUp(directory) }
        let dead = Self.deadPID()
        let stale = [".out.gguf.\(dead).\(UUID().uuidString).tmp", ".out.gguf.\(UUID().uuidString).tmp",
                     ".hf.\(dead).\(UUID().uuidString).old"]
        for name in stale { try Data(repeating: 1, count: 100).write(to: directory.appendingPathComponent(name)) }
        try FileManager.default.createDirectory(at: directory.appendingPathComponent(".hf.\(dead).\(UUID().uuidString).tmp"),
                                                withIntermediateDirectories: false)
        let live = ".out.gguf.\(getppid()).\(UUID().uuidString).tmp"
        let unrelated = ".out.gguf.notes.tmp"
        for name in [live, unrelated] { try Data().write(to: directory.appendingPathComponent(name)) }
        #expect(CLIHarness.run(["export", "-o", "out.gguf"], in: directory).status == 0)
        #expect(CLIHarness.run(["export", "-o", "hf", "--format", "safetensors"], in: directory).status == 0)
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasPrefix(".out") || $0.hasPrefix(".hf") })
        #expect(left == [live, unrelated])
    }

    /// A pid no process has: a child that has exited and been reaped.
    static func deadPID() -> Int32 {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/true")
        try? process.run()
        process.waitUntilExit()
        return process.processIdentifier
    }
}

@Suite("verified history and bounded input")
struct VerifiedHistoryTests {
    typealias Sandbox = HistoryTests.Sandbox

    /// A sandbox repository with three commits (a, b, c) made by the solver; returns their ids, oldest first.
    static func threeCommits(_ box: Sandbox) throws -> [String] {
        box.run(["init", "--model", HistoryTests.model.path])
        var ids: [String] = []
        for name in ["a", "b", "c"] {
            box.run(["commit", "\(name).jsonl", "-m", name.uppercased()])
            ids.append(try box.head())
        }
        return ids
    }

    /// The commands that read a version's weights, each of which must refuse a damaged history.
    static let weightReaders: [[String]] = [
        ["generate", "The", "--max-tokens", "1"], ["export", "-o", "out-lora", "--format", "lora"],
        ["export", "-o", "out-hf", "--format", "safetensors"], ["diff", "main", "HEAD", "--behaviour"],
        ["eval", "a.jsonl"], ["commit", "a.jsonl", "-m", "again"],
    ]

    static func expectRefused(_ box: Sandbox, naming commit: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let ledger = try SafeOutputTests.ledgerBytes(box.directory)
        for arguments in weightReaders {
            let outcome = box.run(arguments, expecting: 1, sourceLocation: sourceLocation)
            let lines = outcome.stderr.split(separator: "\n").filter { !$0.hasPrefix("note:") && !$0.hasPrefix("computing") }
            #expect(lines.count == 1 && lines[0].hasPrefix("Error: ") && lines[0].contains(commit.prefix(12)),
                    "\(arguments): \(outcome.stderr)", sourceLocation: sourceLocation)
        }
        #expect(try SafeOutputTests.ledgerBytes(box.directory) == ledger, "a refused command changed the ledger",
                sourceLocation: sourceLocation)
        #expect(!FileManager.default.fileExists(atPath: box.directory.appendingPathComponent("out-hf").path))
        #expect(box.run(["fsck"], expecting: 1, sourceLocation: sourceLocation).stdout.contains(String(commit.prefix(12))))
    }

    static func tamper(_ box: Sandbox, _ sql: String, _ values: [SQLValue]) throws {
        let repository = try Repository.open(at: box.directory)
        try repository.database.execute("PRAGMA foreign_keys = OFF")
        for trigger in try repository.database.query("SELECT name FROM sqlite_schema WHERE type = 'trigger'", [], { try $0.string(0) }) {
            try repository.database.execute("DROP TRIGGER \(trigger)")
        }
        try repository.database.execute(sql, values)
    }

    @Test("a missing delta row is a one-line error naming the commit for every command that reads weights")
    func missingDelta() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        let ids = try Self.threeCommits(box)
        try Self.tamper(box, "DELETE FROM deltas WHERE commit_id = ?1 AND tensor = (SELECT min(tensor) FROM deltas WHERE commit_id = ?1)", [.text(ids[1])])
        try Self.expectRefused(box, naming: ids[1])
    }

    @Test("a rewired parent and a middle commit gone are refused before any weights are used")
    func rewiredAndMissing() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        let ids = try Self.threeCommits(box)
        try Self.tamper(box, "UPDATE commits SET parent_id = ?1 WHERE id = ?2", [.text(ids[0]), .text(ids[2])])
        try Self.expectRefused(box, naming: ids[2])

        let other = try Sandbox()
        defer { CLIHarness.cleanUp(other.directory) }
        let second = try Self.threeCommits(other)
        for table in ["deltas", "facts", "edit_vectors"] {
            try Self.tamper(other, "DELETE FROM \(table) WHERE commit_id = ?1", [.text(second[1])])
        }
        try Self.tamper(other, "DELETE FROM commits WHERE id = ?1", [.text(second[1])])
        try Self.expectRefused(other, naming: second[2])
    }

    @Test("a delta naming a layer the model lacks is refused by generate, log --health and diff --behaviour, without a crash")
    func layerTheModelLacks() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", HistoryTests.model.path])
        let repository = try Repository.open(at: box.directory)
        let baseID = try #require(try repository.baseModels().first?.id)
        let u = Matrix<Double>(rows: 128, cols: 1, values: Array(repeating: 0.01, count: 128))
        let v = Matrix<Double>(rows: 512, cols: 1, values: Array(repeating: 0.01, count: 512))
        let good = try repository.writeCommit(CommitDraft(
            parentID: nil, baseModelID: baseID, method: "memit",
            facts: [Fact(subject: "Rome", prompt: "{} is in", targetNew: "Paris")],
            deltas: [DeltaInput(tensor: "blk.1.ffn_down.weight", layer: 1, u: u, v: v, precision: .f32)],
            message: "good layer", author: "tests"))
        let record = try repository.writeCommit(CommitDraft(
            parentID: good.id, baseModelID: baseID, method: "memit",
            facts: [Fact(subject: "Paris", prompt: "{} is in", targetNew: "Rome")],
            deltas: [DeltaInput(tensor: "blk.9.ffn_down.weight", layer: 9, u: u, v: v, precision: .f32)],
            message: "bad layer", author: "tests"))
        for arguments in [["generate", "The", "--max-tokens", "1"], ["log", "--health"], ["diff", "HEAD~1", "HEAD", "--behaviour"],
                          ["export", "-o", "x.gguf", "--format", "safetensors"]] {
            let outcome = box.run(arguments, expecting: 1)
            #expect(outcome.stderr.contains("layer 9") && outcome.stderr.contains(record.id.prefix(12)), "\(arguments): \(outcome.stderr)")
        }
    }

    @Test("prompts, subjects and targets longer than the context are refused with file:line:field before any work")
    func tooLong() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", HistoryTests.model.path])
        let long = String(repeating: " very", count: 300)
        let cases: [([String: String], String)] = [
            (["prompt": "{} is located in" + long, "subject": "Paris", "target_new": "Rome"], ":1: field 'prompt"),
            (["prompt": "{} is located in", "subject": "Paris", "target_new": "Rome" + long], ":1: field 'target_new'"),
            (["prompt": "{} is located in", "subject": "Paris" + long, "target_new": "Rome"], ":1: field 'subject'"),
        ]
        let ledger = try SafeOutputTests.ledgerBytes(box.directory)
        for (fact, message) in cases {
            let data = try JSONSerialization.data(withJSONObject: fact)
            try data.write(to: box.directory.appendingPathComponent("long.jsonl"))
            let outcome = try CLIHarness.runBinary(["commit", "long.jsonl"], in: box.directory, environment: box.environment)
            #expect(outcome.status == 1, "\(fact): \(outcome.stderr)")
            #expect(outcome.stderr.hasPrefix("Error: ") && outcome.stderr.contains("long.jsonl" + message)
                    && outcome.stderr.contains("context of 64"), "\(outcome.stderr)")
            #expect(!outcome.stderr.contains("statistics"), "work started before the check: \(outcome.stderr)")
        }
        #expect(try SafeOutputTests.ledgerBytes(box.directory) == ledger)
    }

    @Test("{} twice, two targets for one subject and prompt, and bad hyperparameters are refused naming file and field")
    func badInput() throws {
        let box = try Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", HistoryTests.model.path])
        func write(_ name: String, _ text: String) throws -> String {
            try text.write(to: box.directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
            return name
        }
        let facts: [(String, String)] = [
            (#"{"prompt": "{} and {} are in", "subject": "A", "target_new": "x"}"#, "twice.jsonl:1: field 'prompt' has {} 2 times"),
            (#"{"prompt": "{} is in", "subject": "A", "target_new": "x"}"# + "\n" + #"{"prompt": "{} is in", "subject": "A", "target_new": "y"}"#,
             "twice.jsonl:2: field 'target_new': \"y\" conflicts with \"x\""),
        ]
        for (text, message) in facts {
            let outcome = box.run(["commit", try write("twice.jsonl", text)], expecting: 1)
            #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
        }
        try HistoryTests.writeFacts(range: 0..<1, to: box.directory.appendingPathComponent("one.jsonl"))
        let hyperparameters: [(String, String)] = [
            (#"{"mom2_n_tokens": NaN}"#, "h.json: not valid JSON"),
            (#"{"v_lr": 1e400}"#, "h.json: not valid JSON"),
            (#"{"prefix_count": 1000000}"#, "h.json: field 'prefix_count': must be from 0 to 64"),
            (#"{"v_num_grad_steps": 2.5}"#, "h.json: field 'v_num_grad_steps': expected a whole number"),
            (#"{"mom2_n_tokens": 1e12}"#, "h.json: field 'mom2_n_tokens': must be from 1 to 100000000"),
            (#"{"mom2_sequence_length": 4096}"#, "h.json: field 'mom2_sequence_length': must be at most the model's context of 64"),
            (#"{"v_lr": "fast"}"#, "h.json: field 'v_lr': expected a number"),
            (#"[1, 2]"#, "h.json: expected a JSON object of hyperparameters, found an array"),
        ]
        for (text, message) in hyperparameters {
            let outcome = box.run(["commit", "one.jsonl", "--hparams", try write("h.json", text)], expecting: 1)
            #expect(outcome.stderr.contains(message), "\(text): \(outcome.stderr)")
            #expect(outcome.stderr.split(separator: "\n").count == 1, "\(outcome.stderr)")
        }
        #expect(try Repository.open(at: box.directory).allCommits().isEmpty)
    }
}

@Suite("bounded waits, discovery and terminal text")
struct BoundedWaitTests {
    @Test("a writer waiting for the lock gives up after --wait seconds naming the holder's pid; a dead holder's lock is taken over")
    func lockTimeout() throws {
        let box = try HistoryTests.Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        box.run(["init", "--model", HistoryTests.model.path])
        let repository = try Repository.open(at: box.directory)
        var held: WriterLock? = try repository.acquireWriterLock(timeout: 0)
        let started = Date()
        let outcome = try CLIHarness.runBinary(["commit", "a.jsonl", "--wait", "0.5"], in: box.directory, environment: box.environment)
        #expect(outcome.status == 1)
        #expect(outcome.stderr.contains("process \(getpid()) has held the writer lock"), "\(outcome.stderr)")
        #expect(Date().timeIntervalSince(started) < 30)
        let immediate = try CLIHarness.runBinary(["revert", "HEAD", "--wait", "0"], in: box.directory, environment: box.environment)
        #expect(immediate.status == 1 && immediate.stderr.contains("writer lock"), "\(immediate.stderr)")
        #expect(box.run(["commit", "a.jsonl", "--wait", "-3"], expecting: 64).stderr.contains("--wait expects seconds"))
        #expect(held != nil)
        held = nil

        // A killed holder leaves its pid in the file but no lock: the next writer goes ahead.
        let holder = Process()
        holder.executableURL = URL(fileURLWithPath: "/bin/sh")
        holder.arguments = ["-c", "echo $$ > '\(repository.lockURL.path)'; exec flock -o '\(repository.lockURL.path)' sleep 20"]
        try holder.run()
        Thread.sleep(forTimeInterval: 0.5)
        kill(holder.processIdentifier, SIGKILL)
        holder.waitUntilExit()
        let after = try CLIHarness.runBinary(["commit", "a.jsonl", "--wait", "0"], in: box.directory, environment: box.environment)
        #expect(after.status == 0, "\(after.stderr)")
    }

    @Test("a command started in a deleted folder ends with a one-line error instead of searching forever")
    func deletedWorkingDirectory() throws {
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        let gone = directory.appendingPathComponent("gone")
        try FileManager.default.createDirectory(at: gone, withIntermediateDirectories: true)
        let binary = try CLIHarness.binary()
        let outcome = try CLIHarness.runProcess(URL(fileURLWithPath: "/bin/sh"),
                                                ["-c", "cd '\(gone.path)' && rmdir '\(gone.path)' && exec '\(binary.path)' status"],
                                                environment: CLIHarness.environment(), timeout: 60)
        #expect(outcome.status == 1, "\(outcome.stderr)")
        #expect(outcome.stderr.hasPrefix("Error: the current directory cannot be used"), "\(outcome.stderr)")
    }

    @Test("subjects, messages and authors with terminal escape codes are printed escaped by log and show; JSON keeps them exact")
    func escapedText() throws {
        let fixture = try ExportCommandTests.makeFixture()
        defer { CLIHarness.cleanUp(fixture.directory) }
        let repository = try Repository.open(at: fixture.directory)
        let baseID = try #require(try repository.baseModels().first?.id)
        let hostile = "Red\u{1B}]0;owned\u{07}\u{1B}[2J\r\u{9B}"
        let u = Matrix<Double>(rows: 64, cols: 1, values: Array(repeating: 0.01, count: 64))
        let v = Matrix<Double>(rows: 128, cols: 1, values: Array(repeating: 0.01, count: 128))
        _ = try repository.writeCommit(CommitDraft(
            parentID: fixture.commits[1], baseModelID: baseID, method: "memit",
            facts: [Fact(subject: hostile, prompt: "{} is in", targetNew: "Rome")],
            deltas: [DeltaInput(tensor: "blk.1.ffn_down.weight", layer: 1, u: u, v: v, precision: .f32)],
            message: "msg " + hostile, author: "author " + hostile))
        for arguments in [["log"], ["show"], ["log", "--oneline"], ["status"]] {
            let outcome = CLIHarness.run(arguments, in: fixture.directory)
            #expect(outcome.status == 0, "\(arguments): \(outcome.stderr)")
            let controls = outcome.stdout.unicodeScalars.filter { ($0.value < 0x20 && $0 != "\n") || (0x7F...0x9F).contains($0.value) }
            #expect(controls.isEmpty, "\(arguments) printed raw control characters")
        }
        #expect(CLIHarness.run(["show"], in: fixture.directory).stdout.contains(#"Red\x1b]0;owned\x07\x1b[2J\r\u{9b}"#))
        let json = CLIHarness.run(["show", "--json"], in: fixture.directory).stdout
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
        #expect((object?["message"] as? String) == "msg " + hostile)
    }
}

@Suite("statistics cache and fsck")
struct StatisticsCacheTests {
    @Test("a tampered shared statistics file is detected by its digest and recomputed, giving the same commit as a clean run")
    func tamperedSharedStatistics() throws {
        let first = try HistoryTests.Sandbox()
        defer { CLIHarness.cleanUp(first.directory) }
        first.run(["init", "--model", HistoryTests.model.path])
        first.run(["commit", "a.jsonl", "-m", "A"])
        let clean = try first.head()
        let cache = URL(fileURLWithPath: first.environment["MLEDIT_CACHE"]!).appendingPathComponent("statistics")
        let files = try FileManager.default.contentsOfDirectory(atPath: cache.path).filter { $0.hasSuffix(".c0") }
        try #require(!files.isEmpty)
        for name in files {
            // Scale the payload: every value ×1000 keeps it finite and of the right size.
            let url = cache.appendingPathComponent(name)
            var bytes = [UInt8](try Data(contentsOf: url))
            let payloadStart = try #require(Self.payloadOffset(bytes))
            bytes.withUnsafeMutableBytes { raw in
                for offset in stride(from: payloadStart, to: raw.count - 7, by: 8) {
                    let value = raw.loadUnaligned(fromByteOffset: offset, as: Double.self)
                    raw.storeBytes(of: value * 1000, toByteOffset: offset, as: Double.self)
                }
            }
            try Data(bytes).write(to: url)
        }
        // A second repository in another folder finds the shared files, rejects them and recomputes.
        let second = try HistoryTests.Sandbox()
        defer { CLIHarness.cleanUp(second.directory) }
        let environment = second.environment.merging(["MLEDIT_CACHE": first.environment["MLEDIT_CACHE"]!]) { $1 }
        #expect(CLIHarness.run(["init", "--model", HistoryTests.model.path], in: second.directory, environment: environment).status == 0)
        let commit = CLIHarness.run(["commit", "a.jsonl", "-m", "A"], in: second.directory, environment: environment)
        #expect(commit.status == 0, "\(commit.stderr)")
        #expect(commit.stderr.contains("does not match its recorded SHA-256"), "\(commit.stderr)")
        let status = CLIHarness.run(["status", "--json"], in: second.directory, environment: environment)
        let head = (try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])?["head"] as? String
        #expect(head == clean, "the recomputed statistics gave another commit")
    }

    /// Where the payload of a shared statistics file starts: after the magic line, the description and the digest.
    static func payloadOffset(_ bytes: [UInt8]) -> Int? {
        var newlines = 0
        for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            newlines += 1
            if newlines == 3 { return index + 1 }
        }
        return nil
    }

    @Test("fsck checks the base model's digest; --relink refuses a file it cannot load; revert without --corpus uses the ledger's statistics")
    func fsckAndRelinkAndCorpus() throws {
        let box = try HistoryTests.Sandbox()
        defer { CLIHarness.cleanUp(box.directory) }
        let model = try RepositoryFixture.copyModel(into: box.directory)
        box.run(["init", "--model", model.path])
        let corpus = box.directory.appendingPathComponent("own-corpus.txt")
        try FileManager.default.copyItem(at: try HistoryTests.corpus(), to: corpus)
        let environment = box.environment.merging(["MLEDIT_CORPUS": box.directory.appendingPathComponent("absent.txt").path]) { $1 }
        #expect(CLIHarness.run(["commit", "a.jsonl", "--corpus", corpus.path], in: box.directory, environment: environment).status == 0)
        #expect(CLIHarness.run(["commit", "b.jsonl", "--corpus", corpus.path], in: box.directory, environment: environment).status == 0)
        // The default corpus does not exist; revert replays B with the statistics of own-corpus.txt.
        let revert = CLIHarness.run(["revert", "HEAD~1"], in: box.directory, environment: environment)
        #expect(revert.status == 0, "\(revert.stderr)")
        #expect(revert.stderr.contains("using the preservation statistics the ledger holds"), "\(revert.stderr)")

        #expect(box.run(["fsck"]).stdout == "ok\n")
        let weights = model.appendingPathComponent("model.safetensors")
        var bytes = try Data(contentsOf: weights)
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: weights)
        let fsck = box.run(["fsck"], expecting: 1)
        #expect(fsck.stdout.contains("base model #1") && fsck.stdout.contains("SHA-256"), "\(fsck.stdout)")
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: weights)

        // The same bytes without config.json and tokenizer beside them cannot be loaded.
        let lone = box.directory.appendingPathComponent("lone")
        try FileManager.default.createDirectory(at: lone, withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: weights, to: lone.appendingPathComponent("model.safetensors"))
        let ledger = try SafeOutputTests.ledgerBytes(box.directory)
        let relink = box.run(["init", "--relink", lone.appendingPathComponent("model.safetensors").path], expecting: 1)
        #expect(relink.stderr.contains("cannot be loaded") && relink.stderr.contains("nothing was changed"), "\(relink.stderr)")
        #expect(try SafeOutputTests.ledgerBytes(box.directory) == ledger)
    }
}
