// Runs mledit in-process (most tests) or as the real built binary (end-to-end tests), in
// temporary directories, capturing standard output and error.
import Foundation
import Testing
@testable import MLEditCLI

struct CommandOutcome {
    var status: Int32
    var stdout: String
    var stderr: String
}

final class OutputCapture: @unchecked Sendable {
    private let lock = NSLock()
    private var text = ""
    func append(_ piece: String) { lock.lock(); text += piece; lock.unlock() }
    var value: String { lock.lock(); defer { lock.unlock() }; return text }
}

enum CLIHarness {
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = testsDirectory.appendingPathComponent("Fixtures")
    static let packageRoot = testsDirectory.deletingLastPathComponent()

    /// A fresh empty directory, removed by the caller with `cleanUp`.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func cleanUp(_ url: URL) { try? FileManager.default.removeItem(at: url) }

    static func environment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "MLEDIT_DIR")
        for (key, value) in extra { env[key] = value }
        return env
    }

    /// Runs the command line in this process.
    static func run(_ arguments: [String], in directory: URL, environment extra: [String: String] = [:]) -> CommandOutcome {
        let out = OutputCapture(), err = OutputCapture()
        let console = Console(environment: environment(extra), currentDirectory: directory, errorIsTerminal: false,
                              out: { out.append($0) }, err: { err.append($0) })
        let status = MLEditCommandLine.run(arguments, console: console)
        return CommandOutcome(status: status, stdout: out.value, stderr: err.value)
    }

    /// The built `mledit` executable beside the test bundle.
    static func binary() throws -> URL {
        var candidates: [URL] = []
        let runner = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = runner.deletingLastPathComponent()
        for _ in 0..<4 {
            candidates.append(directory.appendingPathComponent("mledit"))
            directory = directory.deletingLastPathComponent()
        }
        candidates.append(Bundle.main.bundleURL.appendingPathComponent("mledit"))
        for configuration in ["release", "debug"] {
            candidates.append(packageRoot.appendingPathComponent(".build/\(configuration)/mledit"))
        }
        let fm = FileManager.default
        let existing = candidates.filter { fm.isExecutableFile(atPath: $0.path) }
        let newest = existing.max { a, b in
            let da = (try? fm.attributesOfItem(atPath: a.path)[.modificationDate] as? Date) ?? .distantPast
            let db = (try? fm.attributesOfItem(atPath: b.path)[.modificationDate] as? Date) ?? .distantPast
            return da < db
        }
        return try #require(newest, "the mledit binary was not found beside \(runner.path)")
    }

    /// Runs the real binary, draining both pipes while it runs.
    static func runBinary(_ arguments: [String], in directory: URL, environment extra: [String: String] = [:]) throws -> CommandOutcome {
        try runProcess(try binary(), arguments, in: directory, environment: environment(extra))
    }

    /// Runs `executable` with no standard input, draining both pipes while it runs; terminated
    /// after `timeout` seconds when one is given.
    static func runProcess(_ executable: URL, _ arguments: [String], in directory: URL? = nil,
                           environment: [String: String]? = nil, timeout: TimeInterval? = nil) throws -> CommandOutcome {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let directory { process.currentDirectoryURL = directory }
        if let environment { process.environment = environment }
        let outPipe = Pipe(), errPipe = Pipe()
        process.standardOutput = outPipe
        process.standardError = errPipe
        process.standardInput = FileHandle.nullDevice
        let out = OutputCapture(), err = OutputCapture()
        let group = DispatchGroup()
        for (pipe, capture) in [(outPipe, out), (errPipe, err)] {
            group.enter()
            DispatchQueue.global().async {
                let data = pipe.fileHandleForReading.readDataToEndOfFile()
                capture.append(String(decoding: data, as: UTF8.self))
                group.leave()
            }
        }
        try process.run()
        if let timeout {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { process.terminate() }
        }
        process.waitUntilExit()
        group.wait()
        return CommandOutcome(status: process.terminationStatus, stdout: out.value, stderr: err.value)
    }
}
