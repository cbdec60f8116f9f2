// Same inputs, same commit, whatever the threads: the real binary (so OpenBLAS reads its
// environment when it loads) commits the same facts on the tiny-facts fixture with 1, 2 and 3
// worker threads, with OPENBLAS_NUM_THREADS set, and with --threads, and every commit id agrees.
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
            let commit = setting.arguments + ["commit", "a.jsonl", "-m", "same facts", "--json"]
            for arguments in [["init", "--model", HistoryTests.model.path], commit] {
                let outcome = try CLIHarness.runProcess(try CLIHarness.binary(), arguments, in: box.directory,
                                                        environment: environment)
                try #require(outcome.status == 0, "mledit \(arguments.joined(separator: " ")): \(outcome.stderr)")
                if arguments.contains("commit") {
                    let object = try JSONSerialization.jsonObject(with: Data(outcome.stdout.utf8)) as? [String: Any]
                    ids.append(try #require(object?["id"] as? String))
                }
            }
        }
        #expect(ids.count == settings.count)
        #expect(Set(ids).count == 1, "commit ids \(ids)")
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
