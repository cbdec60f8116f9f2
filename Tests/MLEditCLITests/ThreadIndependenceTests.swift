// Same inputs, same commit, whatever the threads: the real binary (so OpenBLAS reads its
// environment when it loads) commits the same facts on the tiny-facts fixture with 1, 2 and 3
// worker threads, with OPENBLAS_NUM_THREADS set, and with --threads, and every commit id agrees,
// also for a second commit that holds the first one's prompts (memory_context_weight).
import Foundation
import Testing

@Suite("Thread count and commit ids", .serialized)
struct ThreadIndependenceTests {
    @Test("the same commit with 1, 2 and 3 threads and any OPENBLAS_NUM_THREADS")
    func sameCommitForEveryThreadCount() throws {
        let settings: [(arguments: [String], environment: [String: String])] = [
            ([], ["MLEDIT_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"]),
            ([], ["MLEDIT_THREADS": "2"]),
            ([], ["MLEDIT_THREADS": "3", "OPENBLAS_NUM_THREADS": "3"]),
            (["--threads", "2"], ["OPENBLAS_NUM_THREADS": "2"]),
        ]
        var ids: [String] = []
        for setting in settings {
            let box = try HistoryTests.Sandbox()
            defer { CLIHarness.cleanUp(box.directory) }
            // Without a setting OPENBLAS_NUM_THREADS is unset (OpenBLAS's default: every core),
            // as for a user; `make` exports it.
            var environment = CLIHarness.environment(box.environment.merging(setting.environment) { $1 })
            if setting.environment["OPENBLAS_NUM_THREADS"] == nil { environment["OPENBLAS_NUM_THREADS"] = nil }
            // The second commit holds the first's prompts at every position: keys of earlier facts
            // recomputed on the parent's weights must not depend on the threads either.
            try Data("{\"memory_context_weight\": 0.05}".utf8).write(to: box.directory.appendingPathComponent("context.json"))
            let commits = [setting.arguments + ["commit", "a.jsonl", "-m", "same facts", "--json"],
                           setting.arguments + ["commit", "c.jsonl", "-m", "held context", "--hparams", "context.json", "--json"]]
            for arguments in [["init", "--model", HistoryTests.model.path]] + commits {
                let outcome = try CLIHarness.runProcess(try CLIHarness.binary(), arguments, in: box.directory,
                                                        environment: environment)
                try #require(outcome.status == 0, "mledit \(arguments.joined(separator: " ")): \(outcome.stderr)")
                if arguments.contains("commit") {
                    let object = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
                    ids.append(try #require(object?["id"] as? String))
                }
            }
        }
        #expect(ids.count == 2 * settings.count)
        #expect(Set(ids).count == 2, "commit ids \(ids)")
    }

    @Test("--threads and MLEDIT_THREADS reject what is not a positive whole number")
    func badThreadCounts() throws {
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        let flag = CLIHarness.run(["--threads", "0", "status"], in: directory)
        #expect(flag.status == 64)
        #expect(flag.stderr.contains("--threads needs a whole number"))
        let variable = CLIHarness.run(["status"], in: directory, environment: ["MLEDIT_THREADS": "many"])
        #expect(variable.status == 1)
        #expect(variable.stderr.hasPrefix("Error: MLEDIT_THREADS=many"))
    }
}
