// Where a command writes: results to standard output, diagnostics and progress to standard
// error. Tests give a capturing console; the binary gives the process's own streams.
import Foundation

/// The output streams of a command, and facts about them.
public final class Console: @unchecked Sendable {
    private let writeOut: @Sendable (String) -> Void
    private let writeErr: @Sendable (String) -> Void
    /// Whether standard error is a terminal (progress bars are drawn only then).
    public let errorIsTerminal: Bool
    /// The environment commands read (MLEDIT_DIR, MLEDIT_CACHE, MLEDIT_MODEL, …).
    public let environment: [String: String]
    /// The directory relative paths are resolved against.
    public let currentDirectory: URL

    public init(environment: [String: String], currentDirectory: URL, errorIsTerminal: Bool,
                out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void) {
        self.environment = environment
        self.currentDirectory = currentDirectory
        self.errorIsTerminal = errorIsTerminal
        self.writeOut = out
        self.writeErr = err
    }

    /// The process's own standard output and error.
    public static func standard() -> Console {
        Console(environment: ProcessInfo.processInfo.environment,
                currentDirectory: URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                errorIsTerminal: isatty(2) == 1,
                out: { text in FileHandle.standardOutput.write(Data(text.utf8)) },
                err: { text in FileHandle.standardError.write(Data(text.utf8)) })
    }

    /// The same streams with some environment variables replaced.
    public func with(environment overrides: [String: String]) -> Console {
        Console(environment: environment.merging(overrides) { $1 }, currentDirectory: currentDirectory,
                errorIsTerminal: errorIsTerminal, out: writeOut, err: writeErr)
    }

    /// Writes a line to standard output.
    public func print(_ line: String = "") { writeOut(line + "\n") }
    /// Writes a line to standard error.
    public func note(_ line: String) { writeErr(line + "\n") }
    /// Writes raw text to standard error (progress bars redraw with "\r").
    public func writeError(_ text: String) { writeErr(text) }

    /// Resolves a user-given path against the current directory.
    public func url(forPath path: String) -> URL {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL }
        if path.hasPrefix("~/"), let home = environment["HOME"] {
            return URL(fileURLWithPath: home).appendingPathComponent(String(path.dropFirst(2))).standardizedFileURL
        }
        return currentDirectory.appendingPathComponent(path).standardizedFileURL
    }

    /// Prints a JSON value (sorted keys, pretty) to standard output.
    public func printJSON(_ value: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        print(String(decoding: data, as: UTF8.self))
    }
}
