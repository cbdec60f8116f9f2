// Where a command writes: results to standard output, diagnostics and progress to standard
// error. Tests give a capturing console; the binary gives the process's own streams.
import Foundation
import MLEdit

/// The output streams of a command, and facts about them.
public final class Console: @unchecked Sendable {
    private let writeOut: @Sendable (String) -> Void
    private let writeErr: @Sendable (String) -> Void
    /// Whether standard error is a terminal (progress bars are drawn only then).
    public let errorIsTerminal: Bool
    /// Whether standard output is a terminal (colour is used only then).
    public let outputIsTerminal: Bool
    /// The environment commands read (MLEDIT_DIR, MLEDIT_CACHE, MLEDIT_MODEL, …).
    public let environment: [String: String]
    /// The directory relative paths are resolved against.
    public let currentDirectory: URL
    /// Why the process's working directory cannot be used (deleted, unreadable), when it cannot.
    public let currentDirectoryProblem: String?

    public init(environment: [String: String], currentDirectory: URL, currentDirectoryProblem: String? = nil,
                errorIsTerminal: Bool, outputIsTerminal: Bool = false,
                out: @escaping @Sendable (String) -> Void, err: @escaping @Sendable (String) -> Void) {
        self.environment = environment
        self.currentDirectory = currentDirectory
        self.currentDirectoryProblem = currentDirectoryProblem
        self.errorIsTerminal = errorIsTerminal
        self.outputIsTerminal = outputIsTerminal
        self.writeOut = out
        self.writeErr = err
    }

    /// The process's own standard output and error.
    public static func standard() -> Console {
        var directory = "/"
        var problem: String?
        if let path = getcwd(nil, 0) {
            directory = String(cString: path)
            free(path)
            if access(directory, R_OK | X_OK) != 0 { problem = String(cString: strerror(errno)) }
        } else {
            problem = String(cString: strerror(errno))
        }
        return Console(environment: ProcessInfo.processInfo.environment,
                currentDirectory: URL(fileURLWithPath: directory), currentDirectoryProblem: problem,
                errorIsTerminal: isatty(2) == 1, outputIsTerminal: isatty(1) == 1,
                out: { text in FileHandle.standardOutput.write(Data(text.utf8)) },
                err: { text in FileHandle.standardError.write(Data(text.utf8)) })
    }

    /// The same streams with some environment variables replaced.
    public func with(environment overrides: [String: String]) -> Console {
        Console(environment: environment.merging(overrides) { $1 }, currentDirectory: currentDirectory,
                currentDirectoryProblem: currentDirectoryProblem, errorIsTerminal: errorIsTerminal,
                outputIsTerminal: outputIsTerminal, out: writeOut, err: writeErr)
    }

    /// Writes a line to standard output, control characters escaped (see `escapingControls`).
    public func print(_ line: String = "") { writeOut(Self.escapingControls(line) + "\n") }
    /// A terminal colour for `paint`.
    public enum Colour: String, Sendable {
        case yellow = "33", green = "32", cyan = "36", red = "31", bold = "1"
    }

    /// Colour only on a terminal that wants it: never in pipes, never with NO_COLOR set
    /// (https://no-color.org), never on TERM=dumb.
    public var usesColour: Bool {
        outputIsTerminal && (environment["NO_COLOR"] ?? "").isEmpty && environment["TERM"] != "dumb"
    }

    /// `text` with its control characters escaped, wrapped in `colour` when `usesColour`; for
    /// lines written with `printPainted`.
    public func paint(_ text: String, _ colour: Colour) -> String {
        let safe = Self.escapingControls(text)
        return usesColour ? "\u{1B}[\(colour.rawValue)m\(safe)\u{1B}[0m" : safe
    }

    /// Writes a line built from `paint` and `escapingControls` pieces as it is.
    public func printPainted(_ line: String) { writeOut(line + "\n") }

    /// Writes a line to standard error, control characters escaped.
    public func note(_ line: String) { writeErr(Self.escapingControls(line) + "\n") }
    /// Writes raw text to standard error (progress bars redraw with "\r").
    public func writeError(_ text: String) { writeErr(text) }

    /// Resolves a user-given path against the current directory.
    public func url(forPath path: String) -> URL { session.url(forPath: path) }

    /// The library's view of this console: its environment and directory, notes to standard
    /// error, progress as bars there.
    public var session: Session {
        let console = self
        return Session(environment: environment, currentDirectory: currentDirectory,
                       note: { (line: String) in console.note(line) },
                       progress: { (label: String, total: Int) -> TaskProgress in ProgressBar(console: console, label: label, total: total) })
    }

    /// Prints a JSON value (sorted keys, pretty) to standard output.
    public func printJSON(_ value: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: value, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        // JSON escapes the C0 controls itself; its strings must stay exactly what was stored.
        writeOut(String(decoding: data, as: UTF8.self) + "\n")
    }

    /// `text` with every control character other than newline and tab written as a visible
    /// escape (`\x1b`, `\r`, `\u{9b}`), so that subjects, messages and author names from a
    /// ledger or a facts file cannot move the cursor, recolour or retitle the user's terminal.
    public static func escapingControls(_ text: String) -> String {
        func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
            let value = scalar.value
            return (value < 0x20 && value != 0x0A && value != 0x09) || (0x7F...0x9F).contains(value)
                || value == 0x2028 || value == 0x2029
        }
        guard text.unicodeScalars.contains(where: needsEscape) else { return text }
        var result = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            guard needsEscape(scalar) else { result.append(scalar); continue }
            let escape: String
            switch scalar.value {
            case 0x0D: escape = "\\r"
            case 0..<0x80: escape = "\\x" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
            default: escape = "\\u{" + String(scalar.value, radix: 16) + "}"
            }
            result.append(contentsOf: escape.unicodeScalars)
        }
        return String(result)
    }
}
