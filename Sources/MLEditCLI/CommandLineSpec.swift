// Declarative description of a command's arguments and options, and the parser that applies it.
// A small stand-in for swift-argument-parser's conventions: `--help` on every command, usage
// errors (exit 64) separate from failures (exit 1), `--name=value` and `-n1`, and the manual
// page `mledit help COMMAND` prints. No subcommand nesting; shell completion is CompletionCommand's.

/// One option or flag of a command.
public struct OptionSpec: Sendable {
    /// Every spelling, long first: `["--max-tokens", "-n"]`.
    public var names: [String]
    /// Placeholder for the value (`N`, `PATH`), or nil for a flag that takes none.
    public var valueName: String?
    public var help: String
    /// Whether the option may be given several times (values are collected in order).
    public var repeatable: Bool

    public init(_ names: [String], value valueName: String? = nil, repeatable: Bool = false, help: String) {
        self.names = names
        self.valueName = valueName
        self.help = help
        self.repeatable = repeatable
    }

    var canonicalName: String { names[0] }
}

/// One positional argument.
public struct ArgumentSpec: Sendable {
    public var name: String
    public var help: String
    public var optional: Bool
    /// Takes every remaining positional argument.
    public var variadic: Bool

    public init(_ name: String, optional: Bool = false, variadic: Bool = false, help: String) {
        self.name = name
        self.help = help
        self.optional = optional
        self.variadic = variadic
    }
}

/// A usage mistake: unknown option, missing argument, malformed number. Exit code 64.
public struct UsageError: Error, CustomStringConvertible {
    public var message: String
    public var command: String
    public init(_ message: String, command: String) {
        self.message = message
        self.command = command
    }
    public var description: String { message }
}

/// The parsed command line of one command.
public struct ParsedArguments: Sendable {
    public let command: String
    public var positionals: [String] = []
    var values: [String: [String]] = [:]
    var flags: Set<String> = []

    public func flag(_ name: String) -> Bool { flags.contains(name) }
    public func value(_ name: String) -> String? { values[name]?.last }
    public func values(_ name: String) -> [String] { values[name] ?? [] }
    public func positional(_ index: Int) -> String? { index < positionals.count ? positionals[index] : nil }

    public func integer(_ name: String) throws -> Int? {
        guard let text = value(name) else { return nil }
        guard let number = Int(text) else {
            throw UsageError("option \(name) expects an integer, got '\(text)'", command: command)
        }
        return number
    }

    public func double(_ name: String) throws -> Double? {
        guard let text = value(name) else { return nil }
        guard let number = Double(text), number.isFinite else {
            throw UsageError("option \(name) expects a number, got '\(text)'", command: command)
        }
        return number
    }
}

/// A command of the `mledit` tool: its help text, its arguments and what it does.
public struct CommandSpec: Sendable {
    public var name: String
    public var abstract: String
    public var discussion: String
    public var arguments: [ArgumentSpec]
    public var options: [OptionSpec]
    public var run: @Sendable (ParsedArguments, Console) throws -> Void

    public init(name: String, abstract: String, discussion: String = "", arguments: [ArgumentSpec] = [],
                options: [OptionSpec] = [], run: @escaping @Sendable (ParsedArguments, Console) throws -> Void) {
        self.name = name
        self.abstract = abstract
        self.discussion = discussion
        self.arguments = arguments
        self.options = options
        self.run = run
    }

    var usageLine: String {
        var parts = ["mledit", name]
        if !options.isEmpty { parts.append("[options]") }
        for argument in arguments {
            var text = argument.name + (argument.variadic ? " ..." : "")
            if argument.optional { text = "[\(text)]" }
            parts.append(text)
        }
        return parts.joined(separator: " ")
    }

    /// The `--help` text: OVERVIEW, USAGE, ARGUMENTS, OPTIONS.
    public var helpText: String {
        var lines = ["OVERVIEW: \(abstract)"]
        if !discussion.isEmpty { lines += ["", discussion] }
        lines += ["", "USAGE: \(usageLine)"]
        if !arguments.isEmpty {
            lines += ["", "ARGUMENTS:"]
            for argument in arguments { lines.append(Self.row(argument.name, argument.help)) }
        }
        lines += ["", "OPTIONS:"]
        for option in options {
            var label = option.names.joined(separator: ", ")
            if let valueName = option.valueName { label += " \(valueName)" }
            lines.append(Self.row(label, option.help))
        }
        lines.append(Self.row("-h, --help", "Show help information."))
        return lines.joined(separator: "\n")
    }

    /// The manual page `mledit help COMMAND` prints: NAME, SYNOPSIS, DESCRIPTION, ARGUMENTS,
    /// OPTIONS, GLOBAL OPTIONS, ENVIRONMENT, EXIT STATUS, SEE ALSO, wrapped to 78 columns.
    public func manualText(allCommands: [String]) -> String {
        var lines = ["MLEDIT-\(name.uppercased())(1)", "", "NAME", "       mledit \(name) - \(abstract)", "", "SYNOPSIS",
                     "       \(usageLine)", "", "DESCRIPTION"]
        lines += Self.wrapped(abstract + (discussion.isEmpty ? "" : " " + discussion), indent: 7)
        if !arguments.isEmpty {
            lines += ["", "ARGUMENTS"]
            for argument in arguments {
                lines.append("       \(argument.name)\(argument.optional ? " (optional)" : "")")
                lines += Self.wrapped(argument.help, indent: 11)
            }
        }
        lines += ["", "OPTIONS"]
        for option in options + [OptionSpec(["--help", "-h"], help: "Show the short help.")] {
            lines.append("       " + option.names.map { name in option.valueName.map { "\(name) \($0)" } ?? name }.joined(separator: ", "))
            lines += Self.wrapped(option.help, indent: 11)
        }
        lines += ["", "GLOBAL OPTIONS",
                  "       --repo DIR", "           The repository to work in (like MLEDIT_DIR); given before the command.",
                  "       --threads N", "           Worker threads (like MLEDIT_THREADS; default: every core). Results do not depend on it.",
                  "", "ENVIRONMENT"]
        for (variable, meaning) in [
            ("MLEDIT_DIR", "the repository, when --repo is not given"),
            ("MLEDIT_CACHE", "where the default model, corpus and shared statistics live (default ~/.cache/mledit)"),
            ("MLEDIT_MODEL", "the model used by commands given no --model outside a repository"),
            ("MLEDIT_CORPUS", "the statistics corpus (files joined with ':') when --corpus is not given"),
            ("MLEDIT_THREADS", "worker threads"), ("MLEDIT_AUTHOR", "the author recorded with new commits"),
            ("NO_COLOR", "when set and not empty, no colour even on a terminal"),
        ] {
            lines.append("       \(variable)")
            lines += Self.wrapped(meaning, indent: 11)
        }
        lines += ["", "EXIT STATUS", "       0 on success, 1 on failure (one line 'Error: …' on standard error), 64 for a usage error.",
                  "", "SEE ALSO"]
        lines += Self.wrapped(allCommands.filter { $0 != name }.map { "mledit-\($0)" }.joined(separator: ", "), indent: 7)
        return lines.joined(separator: "\n")
    }

    /// `text` broken into lines of at most 78 columns after `indent` spaces.
    static func wrapped(_ text: String, indent: Int) -> [String] {
        let prefix = String(repeating: " ", count: indent)
        var lines: [String] = []
        var current = ""
        for word in text.split(whereSeparator: { $0 == " " || $0 == "\n" }) {
            if !current.isEmpty && indent + current.count + 1 + word.count > 78 {
                lines.append(prefix + current)
                current = ""
            }
            current += (current.isEmpty ? "" : " ") + word
        }
        if !current.isEmpty { lines.append(prefix + current) }
        return lines
    }

    private static func row(_ label: String, _ help: String) -> String {
        let padded = label.count < 26 ? label + String(repeating: " ", count: 26 - label.count) : label + "  "
        return "  " + padded + help
    }

    /// Parses `arguments` (without the command name). `--` ends option parsing.
    public func parse(_ arguments: [String]) throws -> ParsedArguments {
        var parsed = ParsedArguments(command: name)
        var index = 0
        var optionsEnded = false
        while index < arguments.count {
            let word = arguments[index]
            index += 1
            if optionsEnded || !word.hasPrefix("-") || word == "-" || Double(word) != nil {
                parsed.positionals.append(word)
                continue
            }
            if word == "--" { optionsEnded = true; continue }
            var name = word
            var inlineValue: String?
            if word.hasPrefix("--"), let equals = word.firstIndex(of: "=") {
                name = String(word[..<equals])
                inlineValue = String(word[word.index(after: equals)...])
            } else if !word.hasPrefix("--"), word.count > 2,
                      let short = options.first(where: { $0.valueName != nil && $0.names.contains(String(word.prefix(2))) }) {
                // A short option with its value attached, as in `-n1`.
                name = short.names.first { $0 == String(word.prefix(2)) } ?? name
                inlineValue = String(word.dropFirst(2))
            }
            guard let option = options.first(where: { $0.names.contains(name) }) else {
                throw UsageError("unknown option '\(name)'", command: self.name)
            }
            let key = option.canonicalName
            if option.valueName != nil {
                let value: String
                if let inlineValue {
                    value = inlineValue
                } else {
                    guard index < arguments.count else {
                        throw UsageError("option \(name) needs a value", command: self.name)
                    }
                    value = arguments[index]
                    index += 1
                }
                if option.repeatable { parsed.values[key, default: []].append(value) } else { parsed.values[key] = [value] }
            } else {
                if inlineValue != nil { throw UsageError("option \(name) takes no value", command: self.name) }
                parsed.flags.insert(key)
            }
        }
        let required = self.arguments.filter { !$0.optional }.count
        if parsed.positionals.count < required {
            let missing = self.arguments[parsed.positionals.count]
            throw UsageError("missing argument \(missing.name)", command: name)
        }
        let variadic = self.arguments.contains { $0.variadic }
        if !variadic && parsed.positionals.count > self.arguments.count {
            throw UsageError("unexpected argument '\(parsed.positionals[self.arguments.count])'", command: name)
        }
        return parsed
    }
}
