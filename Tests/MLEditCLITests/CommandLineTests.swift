// The command-line conventions: help, usage errors (64), failures (1), option parsing.
import Foundation
import Testing
@testable import MLEditCLI

@Suite("Command line conventions")
struct CommandLineTests {
    @Test("mledit --help lists every command")
    func overview() {
        let outcome = CLIHarness.run(["--help"], in: FileManager.default.temporaryDirectory)
        #expect(outcome.status == 0)
        for command in MLEditCommandLine.commands {
            #expect(outcome.stdout.contains("  \(command.name)"), "missing \(command.name)")
        }
    }

    @Test("every command has --help with OVERVIEW, USAGE and OPTIONS")
    func commandHelp() {
        for command in MLEditCommandLine.commands {
            let outcome = CLIHarness.run([command.name, "--help"], in: FileManager.default.temporaryDirectory)
            #expect(outcome.status == 0)
            #expect(outcome.stdout.hasPrefix("OVERVIEW: "))
            #expect(outcome.stdout.contains("USAGE: mledit \(command.name)"))
            #expect(outcome.stdout.contains("OPTIONS:"))
        }
    }

    @Test("an unknown command and an unknown option are usage errors (64)")
    func usageErrors() {
        let directory = FileManager.default.temporaryDirectory
        let unknownCommand = CLIHarness.run(["frobnicate"], in: directory)
        #expect(unknownCommand.status == 64)
        #expect(unknownCommand.stderr.hasPrefix("Error: unknown command 'frobnicate'"))
        let unknownOption = CLIHarness.run(["tokenize", "--frob", "x"], in: directory)
        #expect(unknownOption.status == 64)
        #expect(unknownOption.stderr.contains("unknown option '--frob'"))
        #expect(unknownOption.stderr.contains("mledit tokenize --help"))
        let missing = CLIHarness.run(["tokenize"], in: directory)
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("missing argument TEXT"))
    }

    @Test("options: values, inline values, flags, repeatable, --")
    func parsing() throws {
        let spec = CommandSpec(name: "x", abstract: "x", arguments: [ArgumentSpec("A", optional: true, variadic: true, help: "")],
                               options: [OptionSpec(["--count", "-n"], value: "N", help: ""),
                                         OptionSpec(["--json"], help: ""),
                                         OptionSpec(["--layer"], value: "L", repeatable: true, help: "")]) { _, _ in }
        let parsed = try spec.parse(["-n", "3", "--json", "--layer=1", "--layer", "2", "p", "--", "--literal", "-5"])
        #expect(try parsed.integer("--count") == 3)
        #expect(parsed.flag("--json"))
        #expect(parsed.values("--layer") == ["1", "2"])
        #expect(parsed.positionals == ["p", "--literal", "-5"])
        #expect(throws: UsageError.self) { try spec.parse(["--count"]) }
        #expect(throws: UsageError.self) { try spec.parse(["--json=1"]) }
        let bad = try spec.parse(["--count", "x"])
        #expect(throws: UsageError.self) { try bad.integer("--count") }
    }
}
