// Shared test plumbing for the Checkpoints tests: fixture and model locations, temporary
// directories, hex helpers and running python3 checks with the reference gguf/safetensors packages.

import Foundation
import Testing
@testable import Checkpoints

enum TestSupport {
    /// Tests/ (found from this file's path).
    static let testsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = testsDirectory.appendingPathComponent("Fixtures")

    /// The default model: $MLEDIT_MODEL, else $MLEDIT_CACHE (default ~/.cache/mledit)/SmolLM2-135M-Instruct.Q4_1.gguf.
    static var modelURL: URL {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["MLEDIT_MODEL"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let cache = environment["MLEDIT_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/mledit").path
        return URL(fileURLWithPath: cache).appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
    }

    /// A fresh temporary directory.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-checkpoints-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// Bytes from a hex string; spaces and newlines are ignored.
    static func bytes(hex: String) -> [UInt8] {
        let digits = hex.filter { $0.isHexDigit }
        var result: [UInt8] = []
        var index = digits.startIndex
        while index < digits.endIndex {
            let next = digits.index(index, offsetBy: 2)
            result.append(UInt8(digits[index ..< next], radix: 16) ?? 0)
            index = next
        }
        return result
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    /// Little-endian encoding helpers for hand-built files.
    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
        withUnsafeBytes(of: value.littleEndian) { Array($0) }
    }

    static func ggufString(_ s: String) -> [UInt8] {
        le(UInt64(s.utf8.count)) + Array(s.utf8)
    }

    static func write(_ bytes: [UInt8], to url: URL) throws {
        try Data(bytes).write(to: url)
    }

    /// Runs `python3 -c script args…`, returning stdout; a non-zero exit fails the test with stderr.
    static func runPython(_ script: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        // Drain both pipes while the process runs so neither can fill up and block it.
        nonisolated(unsafe) var errorData = Data()
        let errorReader = Thread { errorData = stderr.fileHandleForReading.readDataToEndOfFile() }
        errorReader.start()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errorReader.isFinished { Thread.sleep(forTimeInterval: 0.01) }
        let text = String(decoding: output, as: UTF8.self)
        if process.terminationStatus != 0 {
            Issue.record("python3 exited with \(process.terminationStatus): \(String(decoding: errorData, as: UTF8.self))\n\(text)")
            throw PythonFailure(status: process.terminationStatus)
        }
        return text
    }

    struct PythonFailure: Error { let status: Int32 }

    /// The error a throwing expression produced, as a `CheckpointError`.
    static func checkpointError(_ body: () throws -> Void) -> CheckpointError? {
        do {
            try body()
            return nil
        } catch let error as CheckpointError {
            return error
        } catch {
            return nil
        }
    }

    /// Largest |a - b| over two equal-length arrays (infinity if the lengths differ).
    static func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        guard a.count == b.count else { return .infinity }
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }
}
