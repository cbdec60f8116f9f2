// `mledit revert`, `mledit rebase` and `mledit export` killed with SIGKILL at seeded random
// moments, some aimed at the write itself, on copies of one prepared repository. After every kill
// the outcome is checked exactly against an uninterrupted run of the same command: fsck is clean,
// every commit is one of the known commits with all its facts, deltas and edit vectors, HEAD's
// lineage is the old or the new one, the ledger file is byte-identical when the process was
// stopped before any write reached the log, and an export destination is absent or identical to
// the uninterrupted export. Afterwards the repository still takes a commit and `mledit fsck`
// prints ok. FaultTests.killedCommits does the same for commit; scripts/fault-run is the long run.
import Checkpoints
import Foundation
import Ledger
import Tensors
import Testing
@testable import MLEditCLI

@Suite("Kills", .serialized)
struct KillTests {
    typealias Fixture = RepositoryFixture

    /// Kills per command; MLEDIT_KILLS for a longer run.
    static var kills: Int {
        ProcessInfo.processInfo.environment["MLEDIT_KILLS"].flatMap { Int($0) }.map { max(1, $0) } ?? 8
    }

    /// A prepared repository and what its commands need.
    struct Sandbox {
        var directory: URL
        var corpus: String
        var hyperparameters: String
        var environment: [String: String]
        var binary: URL

        init(model: URL = Fixture.modelFolder) throws {
            directory = try Fixture.make(model: model)
            (corpus, hyperparameters) = try FaultTests.smallEditInputs(in: directory)
            // Statistics shared between repositories stay inside the sandbox.
            environment = CLIHarness.environment(["MLEDIT_CACHE": directory.appendingPathComponent("cache").path,
                                                  "MLEDIT_AUTHOR": "tests", "OPENBLAS_NUM_THREADS": "1"])
            binary = try CLIHarness.binary()
        }

        @discardableResult
        func run(_ arguments: [String], in root: URL? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> CommandOutcome {
            let outcome = try CLIHarness.runProcess(binary, arguments, in: root ?? directory, environment: environment)
            #expect(outcome.status == 0, "mledit \(arguments.joined(separator: " ")): \(outcome.stderr)", sourceLocation: sourceLocation)
            return outcome
        }

        /// Commits fixture fact `index` on HEAD of the repository at `root`.
        func commit(_ index: Int, in root: URL? = nil) throws {
            let url = directory.appendingPathComponent("facts-\(index).jsonl")
            try FaultTests.factLine(index).write(to: url, atomically: true, encoding: .utf8)
            try run(["commit", url.path, "--corpus", corpus, "--hparams", hyperparameters, "--no-verify", "-m", "fact \(index)"], in: root)
        }

        func launch(_ arguments: [String], in root: URL) throws -> Process {
            let process = Process()
            process.executableURL = binary
            process.arguments = arguments
            process.currentDirectoryURL = root
            process.environment = environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            process.standardInput = FileHandle.nullDevice
            try process.run()
            return process
        }

        /// A copy of the repository (and its inputs) in a fresh directory.
        func copy() throws -> URL {
            let target = try CLIHarness.temporaryDirectory()
            try FileManager.default.removeItem(at: target)
            try FileManager.default.copyItem(at: directory, to: target)
            return target
        }
    }

    /// What one commit holds: the counts that make it whole.
    struct Shape: Equatable {
        var facts: Int
        var deltas: Int
        var vectors: Int
    }

    static func shapes(of root: URL) throws -> [String: Shape] {
        let repository = try Repository.open(at: root)
        var out: [String: Shape] = [:]
        for commit in try repository.allCommits() {
            out[commit.id] = Shape(facts: try repository.facts(of: commit.id).count, deltas: try repository.deltas(of: commit.id).count,
                                   vectors: try repository.editVectors(of: commit.id).count)
        }
        return out
    }

    static func headLineage(of root: URL) throws -> [String] {
        try Repository.open(at: root).lineage(of: "HEAD").map(\.id)
    }

    static func ledgerBytes(_ root: URL) throws -> Data {
        try Data(contentsOf: Repository.ledgerURL(in: root))
    }

    static func walBytes(_ root: URL) -> Int {
        ((try? FileManager.default.attributesOfItem(atPath: Repository.ledgerURL(in: root).path + "-wal"))?[.size] as? Int) ?? 0
    }

    /// Stops the process with SIGSTOP and waits until the kernel shows it stopped; false if it
    /// ended first.
    static func stop(_ process: Process) -> Bool {
        let pid = process.processIdentifier
        guard kill(pid, SIGSTOP) == 0 else { return false }
        for _ in 0 ..< 20_000 {
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")"), stat.distance(from: close, to: stat.endIndex) > 2 else { return false }
            let state = stat[stat.index(close, offsetBy: 2)]
            if state == "T" || state == "t" { return true }
            if state == "Z" || state == "X" { return false }
            usleep(50)
        }
        return false
    }

    /// How one run ended.
    struct Kill {
        /// Killed (not finished on its own).
        var killed: Bool
        /// Bytes in the write-ahead log while the process was stopped, just before the kill.
        var walBytes: Int
        /// Whether the aimed-at event had happened when the process was stopped.
        var sawEvent: Bool
    }

    /// Runs `arguments` at `root` and kills it: at a random moment of an uninterrupted run's
    /// `duration` on even trials, within a few milliseconds of `event` on odd ones. The process is
    /// stopped first, so that what it had written is known at the moment of the kill.
    static func killedRun(_ sandbox: Sandbox, _ arguments: [String], at root: URL, trial: Int, duration: TimeInterval,
                          generator: inout SeededGenerator, event: () -> Bool) throws -> Kill {
        let process = try sandbox.launch(arguments, in: root)
        let launched = Date()
        if trial % 2 == 0 {
            usleep(UInt32(duration * Double.random(in: 0.05 ... 1.05, using: &generator) * 1_000_000))
        } else {
            while process.isRunning && !event() && Date().timeIntervalSince(launched) < 3 * duration { usleep(100) }
            usleep(UInt32.random(in: 0 ... 3_000, using: &generator))
        }
        var outcome = Kill(killed: false, walBytes: 0, sawEvent: false)
        if process.isRunning && stop(process) {
            outcome = Kill(killed: true, walBytes: walBytes(root), sawEvent: event())
            kill(process.processIdentifier, SIGKILL)
        }
        process.waitUntilExit()
        if process.terminationReason == .uncaughtSignal {
            outcome.killed = true
        } else {
            outcome.killed = false
            #expect(process.terminationStatus == 0, "trial \(trial): mledit \(arguments.joined(separator: " ")) failed on its own")
        }
        return outcome
    }

    /// The checks after a killed (or finished) revert or rebase on `root`: fsck is clean, every
    /// commit is a known whole one, HEAD's lineage is `before` or `after`, and the commits are
    /// the old ones plus only commits of the uninterrupted run. Returns whether the run landed.
    static func expectConsistent(_ root: URL, trial: Int, kill: Kill, templateLedger: Data, known: [String: Shape],
                                 before: [String], after: [String], oldCommits: Set<String>) throws -> Bool {
        // Read the ledger file before anything opens it: opening replays the log into it.
        let ledgerUnchanged = try ledgerBytes(root) == templateLedger
        let repository = try Repository.open(at: root)
        #expect(try repository.fsck() == [], "trial \(trial)")
        let shapes = try Self.shapes(of: root)
        for (id, shape) in shapes {
            #expect(known[id] == shape, "trial \(trial): commit \(id.prefix(10)) is \(shape), expected \(String(describing: known[id]))")
        }
        #expect(oldCommits.isSubset(of: Set(shapes.keys)), "trial \(trial): a commit was lost")
        let lineage = try headLineage(of: root)
        #expect(lineage == before || lineage == after, "trial \(trial): HEAD's lineage is neither the old nor the new one")
        // An empty log at the stop means no write was pending; unless the run had landed (its
        // write done and checkpointed into the file as the process closed the ledger), none was made.
        if kill.killed && kill.walBytes == 0 && lineage == before {
            #expect(ledgerUnchanged, "trial \(trial): killed before any write, yet the ledger changed")
        }
        if !kill.killed { #expect(lineage == after, "trial \(trial): the run finished but HEAD did not move") }
        if lineage == before && kill.walBytes == 0 && kill.killed {
            #expect(Set(shapes.keys) == oldCommits, "trial \(trial): commits appeared without a write")
        }
        let fsck = try CLIHarness.runProcess(try CLIHarness.binary(), ["fsck"], in: root, environment: CLIHarness.environment())
        #expect(fsck.stdout == "ok\n", "trial \(trial): \(fsck.stdout) \(fsck.stderr)")
        return lineage == after
    }

    /// Kills `arguments` `kills` times on copies of `sandbox`, checking each outcome against the
    /// uninterrupted run; every copy then takes one more commit.
    static func killRepeatedly(_ sandbox: Sandbox, _ arguments: [String], seed: UInt64) throws {
        let before = try headLineage(of: sandbox.directory)
        let oldCommits = Set(try shapes(of: sandbox.directory).keys)

        let reference = try sandbox.copy()
        defer { CLIHarness.cleanUp(reference) }
        let start = Date()
        try sandbox.run(arguments, in: reference)
        let duration = Date().timeIntervalSince(start)
        let after = try headLineage(of: reference)
        let known = try shapes(of: reference)
        try #require(after != before && Set(known.keys).isSuperset(of: oldCommits))

        var generator = SeededGenerator(seed: seed)
        var killed = 0, writing = 0, untouched = 0, landed = 0
        for trial in 0 ..< Self.kills {
            let root = try sandbox.copy()
            defer { CLIHarness.cleanUp(root) }
            let templateLedger = try ledgerBytes(root)
            let kill = try killedRun(sandbox, arguments, at: root, trial: trial, duration: duration, generator: &generator) {
                walBytes(root) > 0
            }
            if kill.killed { killed += 1 }
            if kill.killed && kill.walBytes > 0 { writing += 1 }
            if kill.killed && kill.walBytes == 0 { untouched += 1 }
            if try expectConsistent(root, trial: trial, kill: kill, templateLedger: templateLedger, known: known,
                                    before: before, after: after, oldCommits: oldCommits) {
                landed += 1
            }
            // Whatever the kill left, the repository takes the next commit.
            try sandbox.commit(40 + trial, in: root)
            let fsck = try CLIHarness.runProcess(sandbox.binary, ["fsck"], in: root, environment: sandbox.environment)
            #expect(fsck.stdout == "ok\n", "trial \(trial): after the next commit: \(fsck.stdout) \(fsck.stderr)")
        }
        print("killed \(arguments[0]): \(killed) of \(Self.kills) runs killed (\(writing) while writing, \(untouched) before any write), \(landed) landed, uninterrupted run \(String(format: "%.2f", duration)) s")
        #expect(killed > 0, "no run was killed; the delays are too long")
    }

    @Test("mledit revert killed at random moments: the revert is whole or absent, the ledger untouched before its write")
    func killedReverts() throws {
        let sandbox = try Sandbox()
        defer { CLIHarness.cleanUp(sandbox.directory) }
        for index in 0 ..< 3 { try sandbox.commit(index) }
        try Self.killRepeatedly(sandbox, ["revert", "HEAD~1", "--corpus", sandbox.corpus], seed: 71)
    }

    @Test("mledit rebase killed at random moments: the branch moves to the whole replay or stays, replayed commits are whole")
    func killedRebases() throws {
        let sandbox = try Sandbox()
        defer { CLIHarness.cleanUp(sandbox.directory) }
        try sandbox.commit(0)
        try sandbox.run(["checkout", "-b", "side"])
        try sandbox.commit(1)
        try sandbox.commit(2)
        try sandbox.run(["checkout", "main"])
        try sandbox.commit(3)
        try sandbox.run(["checkout", "side"])
        try Self.killRepeatedly(sandbox, ["rebase", "main", "--corpus", sandbox.corpus], seed: 72)
    }

    /// Hidden temporary files of exports to `out.gguf` in `folder`.
    static func temporaries(_ folder: URL) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { $0.hasPrefix(".out.gguf.") && $0.hasSuffix(".tmp") }
    }

    @Test("mledit export killed at random moments: the destination is absent or the whole export, the ledger untouched")
    func killedExports() throws {
        let sandbox = try Sandbox(model: Fixture.modelFolder.appendingPathComponent("model.gguf"))
        defer { CLIHarness.cleanUp(sandbox.directory) }
        try sandbox.commit(0)
        try sandbox.commit(1)
        let lineage = try Self.headLineage(of: sandbox.directory)
        let reference = sandbox.directory.appendingPathComponent("reference/out.gguf")
        try FileManager.default.createDirectory(at: reference.deletingLastPathComponent(), withIntermediateDirectories: true)
        let start = Date()
        try sandbox.run(["export", "-o", reference.path])
        let duration = Date().timeIntervalSince(start)
        let expected = try Data(contentsOf: reference)
        #expect(try GGUFFile(contentsOf: reference).value(forKey: "mledit.commit") == .string(lineage[0]))
        // Export only reads the ledger: its file must be byte-identical after every kill.
        let ledger = try Self.ledgerBytes(sandbox.directory)

        var generator = SeededGenerator(seed: 73)
        var killed = 0, partial = 0, stale = 0
        for trial in 0 ..< Self.kills {
            let folder = sandbox.directory.appendingPathComponent("trial-\(trial)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let destination = folder.appendingPathComponent("out.gguf")
            let kill = try Self.killedRun(sandbox, ["export", "-o", destination.path], at: sandbox.directory, trial: trial,
                                          duration: duration, generator: &generator) { !Self.temporaries(folder).isEmpty }
            if kill.killed { killed += 1 }
            if kill.sawEvent { partial += 1 }
            #expect(try Self.ledgerBytes(sandbox.directory) == ledger, "trial \(trial): export changed the ledger")
            if FileManager.default.fileExists(atPath: destination.path) {
                #expect(try Data(contentsOf: destination) == expected, "trial \(trial): the destination is not the whole export")
                #expect(throws: Never.self) { _ = try GGUFFile(contentsOf: destination) }
            } else {
                #expect(kill.killed, "trial \(trial): the export finished without writing its destination")
            }
            if !Self.temporaries(folder).isEmpty { stale += 1 }

            // The next export to the same place completes and clears what the killed one left.
            try sandbox.run(["export", "-o", destination.path])
            #expect(try Data(contentsOf: destination) == expected, "trial \(trial): the export after the kill differs")
            #expect(Self.temporaries(folder) == [], "trial \(trial): temporary files of the killed export remain")
            #expect(try Self.headLineage(of: sandbox.directory) == lineage)
            #expect(try Repository.open(at: sandbox.directory).fsck() == [], "trial \(trial)")
        }
        print("killed export: \(killed) of \(Self.kills) runs killed (\(partial) while writing the file, \(stale) left temporary files), uninterrupted run \(String(format: "%.2f", duration)) s")
        #expect(killed > 0, "no run was killed; the delays are too long")
        try sandbox.commit(40)
        #expect(try CLIHarness.runProcess(sandbox.binary, ["fsck"], in: sandbox.directory, environment: sandbox.environment).stdout == "ok\n")
    }
}
