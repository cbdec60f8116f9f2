// The `mledit` tool as a library: the command registry, top-level help, and the mapping of
// outcomes to exit codes (0 success, 1 failure with a one-line `Error: …`, 64 usage error).
import Foundation
import MLEdit
import Tensors

/// A failure a command reports to the user, already phrased as one line.
public struct CommandFailure: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

public enum MLEditCommandLine {
    public static let version = mleditVersion

    /// Every command, in the order `mledit --help` lists them.
    public static var commands: [CommandSpec] {
        [InitCommand.spec, CommitCommand.spec, RevertCommand.spec, RebaseCommand.spec, LogCommand.spec, ShowCommand.spec, StatusCommand.spec, CheckoutCommand.spec, BranchCommand.spec, TagCommand.spec, FsckCommand.spec, InspectCommand.spec, TokenizeCommand.spec, GenerateCommand.spec, ExportCommand.spec, EvalCommand.spec, DiffCommand.spec, ReportCommand.spec, CompletionCommand.spec]
    }

    /// Runs one invocation; `arguments` excludes the program name. Returns the exit code.
    public static func run(_ arguments: [String], console: Console) -> Int32 {
        var arguments = arguments
        var console = console
        // `--repo DIR` before the command selects the repository, like MLEDIT_DIR.
        while let first = arguments.first, first == "--repo" || first.hasPrefix("--repo=") {
            let directory: String
            if first == "--repo" {
                guard arguments.count > 1 else {
                    console.note("Error: option --repo needs a value. See 'mledit --help'.")
                    return 64
                }
                directory = arguments[1]
                arguments.removeFirst(2)
            } else {
                directory = String(first.dropFirst("--repo=".count))
                arguments.removeFirst()
            }
            console = console.with(environment: ["MLEDIT_DIR": console.url(forPath: directory).path])
        }
        do {
            ComputeThreads.configure(count: try threadCount(&arguments, environment: console.environment))
        } catch {
            return exitCode(reporting: error, console: console)
        }
        guard let first = arguments.first else {
            console.print(overview)
            return 0
        }
        if first == "--help" || first == "-h" || first == "help" {
            if arguments.count > 1 {
                guard let command = commands.first(where: { $0.name == arguments[1] }) else {
                    console.note("Error: unknown command '\(arguments[1])'. See 'mledit --help'.")
                    return 64
                }
                console.print(first == "help" ? command.manualText(allCommands: commands.map(\.name)) : command.helpText)
            } else {
                console.print(overview)
            }
            return 0
        }
        if first == "--version" {
            console.print("mledit \(version)")
            console.print("BLAS: \(BLASKernels.summary(environment: console.environment))")
            return 0
        }
        guard let command = commands.first(where: { $0.name == first }) else {
            console.note("Error: unknown command '\(first)'. See 'mledit --help'.")
            return 64
        }
        let rest = Array(arguments.dropFirst())
        if rest.contains("--help") || rest.contains("-h") {
            console.print(command.helpText)
            return 0
        }
        do {
            let parsed = try command.parse(rest)
            try command.run(parsed, console)
            return 0
        } catch {
            return exitCode(reporting: error, console: console)
        }
    }

    /// Prints `error` as the one-line `Error: …` and returns its exit code: 64 for usage errors
    /// (pointing at the command's help, or mledit's when no command is named), 1 otherwise.
    static func exitCode(reporting error: Error, console: Console) -> Int32 {
        if let usage = error as? UsageError {
            let help = usage.command.isEmpty ? "mledit --help" : "mledit \(usage.command) --help"
            console.note("Error: \(usage.message). See '\(help)'.")
            return 64
        }
        console.note("Error: \(oneLine(error))")
        return 1
    }

    /// The worker count of `--threads N` (anywhere before a literal `--`, removed from
    /// `arguments`), else MLEDIT_THREADS, else nil (every core).
    static func threadCount(_ arguments: inout [String], environment: [String: String]) throws -> Int? {
        var value: String?
        var index = 0
        while index < arguments.count, arguments[index] != "--" {
            let argument = arguments[index]
            if argument == "--threads" {
                guard index + 1 < arguments.count else { throw UsageError("option --threads needs a value", command: "") }
                value = arguments[index + 1]
                arguments.removeSubrange(index...(index + 1))
            } else if argument.hasPrefix("--threads=") {
                value = String(argument.dropFirst("--threads=".count))
                arguments.remove(at: index)
            } else {
                index += 1
            }
        }
        if let value {
            guard let count = ComputeThreads.parse(value) else {
                throw UsageError("--threads needs a whole number from 1 to 1024, not '\(value)'", command: "")
            }
            return count
        }
        guard let text = environment[ComputeThreads.variable] else { return nil }
        guard let count = ComputeThreads.parse(text) else {
            throw CommandFailure("\(ComputeThreads.variable)=\(text) is not a whole number from 1 to 1024")
        }
        return count
    }

    static func oneLine(_ error: Error) -> String {
        String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    static var overview: String {
        var lines = [
            "OVERVIEW: mledit — version control for knowledge edits of language models",
            "",
            "USAGE: mledit [--repo DIR] <command> [options] [arguments]",
            "",
            "COMMANDS:",
        ]
        for command in commands {
            let padded = command.name + String(repeating: " ", count: max(2, 12 - command.name.count))
            lines.append("  \(padded)\(command.abstract)")
        }
        lines += ["", "--repo DIR (or MLEDIT_DIR) selects the repository; otherwise the current directory and its parents are searched.",
                  "--threads N (or MLEDIT_THREADS) sets the worker threads (default: every core); results do not depend on it.",
                  "See 'mledit <command> --help' for the options of a command, 'mledit help <command>' for its manual page."]
        return lines.joined(separator: "\n")
    }
}
