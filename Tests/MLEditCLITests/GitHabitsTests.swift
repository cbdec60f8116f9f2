// git's habits on mledit's command line: -n1 / -n 1 / --max-count=1, --format placeholders,
// log --graph over branches, show --stat, `mledit help COMMAND` as a manual page, completion
// scripts that complete commands, options and revisions, and colour only on a terminal.
import Foundation
import Ledger
import Testing
@testable import MLEditCLI

@Suite("git habits")
struct GitHabitsTests {
    typealias Fixture = RepositoryFixture

    /// A repository with main (three commits) and a branch `side` forked at the first one with one commit.
    static func forked() throws -> (directory: URL, main: [CommitRecord], side: CommitRecord) {
        let directory = try Fixture.make()
        let main = try Fixture.commits(in: directory, count: 3)
        let branch = CLIHarness.run(["branch", "side", main[0].id], in: directory)
        try #require(branch.status == 0, "\(branch.stderr)")
        let repository = try Repository.open(at: directory)
        let side = try repository.writeCommit(Fixture.draft(parent: main[0].id, facts: [Fixture.fact(77)], seed: 77, message: "side edit"),
                                              onBranch: "refs/heads/side")
        return (directory, main, side)
    }

    @Test("-n1, -n 1 and --max-count=1 each show one commit; --format fills git's placeholders")
    func countAndFormat() throws {
        let (directory, main, _) = try Self.forked()
        defer { CLIHarness.cleanUp(directory) }
        for arguments in [["log", "-n1", "--oneline"], ["log", "-n", "1", "--oneline"], ["log", "--max-count=1", "--oneline"]] {
            let outcome = CLIHarness.run(arguments, in: directory)
            #expect(outcome.status == 0 && outcome.stdout.split(separator: "\n").count == 1, "\(arguments): \(outcome.stdout)")
            #expect(outcome.stdout.hasPrefix(String(main[2].id.prefix(10))))
        }
        let formatted = CLIHarness.run(["log", "--format", "%H|%h|%s|%an|%ad|%p|%%"], in: directory)
        let lines = formatted.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0] == "\(main[2].id)|\(main[2].id.prefix(10))|edit 2|tester|\(RevisionFormatting.date(main[2].createdAt))|\(main[1].id.prefix(10))|%")
        let unknown = CLIHarness.run(["log", "--format", "%q"], in: directory)
        #expect(unknown.status == 64 && unknown.stderr.contains("unknown placeholder '%q'"), "\(unknown.stderr)")
        #expect(CLIHarness.run(["show", "HEAD^", "--json"], in: directory).stdout.contains(main[1].id))
    }

    @Test("log --graph draws every branch, children above parents, with |/ where the side branch meets main")
    func graph() throws {
        let (directory, main, side) = try Self.forked()
        defer { CLIHarness.cleanUp(directory) }
        let outcome = CLIHarness.run(["log", "--graph"], in: directory)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let lines = outcome.stdout.split(separator: "\n").map(String.init)
        let rows = lines.filter { $0.contains("edit") }
        #expect(rows.count == 4, "\(outcome.stdout)")
        #expect(lines.contains("|/"), "\(outcome.stdout)")
        let position = { (id: String) in lines.firstIndex { $0.contains(id.prefix(10)) } ?? -1 }
        #expect(position(side.id) < position(main[0].id) && position(main[1].id) < position(main[0].id))
        #expect(position(main[2].id) < position(main[1].id))
        #expect(lines.last?.hasPrefix("* ") == true && lines.last?.contains(main[0].id.prefix(10)) == true)
        #expect(lines.contains { $0.hasPrefix("| * ") || $0.hasPrefix("* ") && $0.contains("(side)") })
    }

    @Test("show --stat prints one line per edited tensor and the totals")
    func showStat() throws {
        let (directory, main, _) = try Self.forked()
        defer { CLIHarness.cleanUp(directory) }
        let outcome = CLIHarness.run(["show", "--stat", main[2].id], in: directory)
        #expect(outcome.status == 0)
        #expect(outcome.stdout.contains(" blk.1.ffn_down.weight | rank 3, ‖Δ‖ "), "\(outcome.stdout)")
        #expect(outcome.stdout.contains(" 3 facts, 1 tensor changed, total rank 3, "))
        #expect(!outcome.stdout.contains("Hyperparameters:"))
    }

    @Test("help COMMAND prints a manual page; an unknown command is a usage error")
    func manualPage() {
        let directory = FileManager.default.temporaryDirectory
        let page = CLIHarness.run(["help", "commit"], in: directory)
        #expect(page.status == 0)
        for section in ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "EXIT STATUS", "SEE ALSO", "--wait SECONDS"] {
            #expect(page.stdout.contains(section), "missing \(section)")
        }
        #expect(page.stdout.split(separator: "\n").allSatisfy { $0.count <= 100 })
        #expect(CLIHarness.run(["help", "frobnicate"], in: directory).status == 64)
        #expect(CLIHarness.run(["commit", "--help"], in: directory).stdout.hasPrefix("OVERVIEW:"))
    }

    @Test("the bash completion script completes commands, options and branch names; the zsh script names every command")
    func completion() throws {
        let (directory, _, _) = try Self.forked()
        defer { CLIHarness.cleanUp(directory) }
        let script = CLIHarness.run(["completion", "bash"], in: directory)
        #expect(script.status == 0)
        let file = directory.appendingPathComponent("completion.bash")
        try script.stdout.write(to: file, atomically: true, encoding: .utf8)
        let binary = try CLIHarness.binary().deletingLastPathComponent().path
        func complete(_ words: [String]) throws -> [String] {
            let quoted = words.map { "'\($0)'" }.joined(separator: " ")
            let program = "source '\(file.path)'; COMP_WORDS=(\(quoted)); COMP_CWORD=\(words.count - 1); _mledit; printf '%s\\n' \"${COMPREPLY[@]}\""
            let outcome = try CLIHarness.runProcess(URL(fileURLWithPath: "/bin/bash"), ["-c", program], in: directory,
                                                    environment: CLIHarness.environment(["PATH": binary + ":/usr/bin:/bin"]), timeout: 60)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            return outcome.stdout.split(separator: "\n").map(String.init)
        }
        #expect(try complete(["mledit", "co"]) == ["commit", "completion"])
        #expect(try complete(["mledit", "log", "--on"]) == ["--oneline"])
        #expect(try complete(["mledit", "--repo", ".", "revert", "--wa"]) == ["--wait"])
        #expect(try complete(["mledit", "checkout", "si"]) == ["side"])
        let zsh = CLIHarness.run(["completion", "zsh"], in: directory).stdout
        #expect(zsh.hasPrefix("#compdef mledit"))
        for command in MLEditCommandLine.commands { #expect(zsh.contains("'\(command.name):")) }
        #expect(CLIHarness.run(["completion", "fish"], in: directory).status == 64)
    }

    /// Runs `program` in `zsh -f` (no user start-up files) in `directory` with the binary on PATH.
    static func zsh(_ program: String, in directory: URL) throws -> CommandOutcome {
        let binary = try CLIHarness.binary().deletingLastPathComponent().path
        return try CLIHarness.runProcess(URL(fileURLWithPath: "/usr/bin/zsh"), ["-f", "-c", program], in: directory,
                                         environment: CLIHarness.environment(["PATH": binary + ":/usr/bin:/bin"]), timeout: 60)
    }

    @Test("the zsh completion script parses, registers with compinit, and offers commands, a command's options and revisions")
    func zshCompletion() throws {
        let (directory, _, _) = try Self.forked()
        defer { CLIHarness.cleanUp(directory) }
        let functions = directory.appendingPathComponent("zfunc")
        try FileManager.default.createDirectory(at: functions, withIntermediateDirectories: true)
        let file = functions.appendingPathComponent("_mledit")
        try CLIHarness.run(["completion", "zsh"], in: directory).stdout.write(to: file, atomically: true, encoding: .utf8)

        let syntax = try Self.zsh("zsh -n '\(file.path)'", in: directory)
        #expect(syntax.status == 0, "\(syntax.stderr)")
        let registered = try Self.zsh("fpath=('\(functions.path)' $fpath); autoload -U compinit; compinit -u -D; print -r -- ${_comps[mledit]}",
                                      in: directory)
        #expect(registered.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "_mledit", "\(registered.stderr)")

        // The completion system's entry points replaced by recorders of what the script offers.
        let recorders = #"compdef() { :; }; _describe() { print -rl -- "${(@P)2}"; }; _arguments() { print -rl -- "$@"; }; compadd() { print -rl -- "${(@P)2}"; }"#
        func offered(_ words: [String]) throws -> [String] {
            let quoted = words.map { "'\($0)'" }.joined(separator: " ")
            let outcome = try Self.zsh("\(recorders); source '\(file.path)'; words=(\(quoted)); CURRENT=\(words.count); _mledit", in: directory)
            #expect(outcome.status == 0, "\(outcome.stderr)")
            return outcome.stdout.split(separator: "\n").map(String.init)
        }
        let commands = try offered(["mledit", ""])
        for command in MLEditCommandLine.commands {
            #expect(commands.contains { $0.hasPrefix("\(command.name):") }, "\(command.name) not offered")
        }
        let logOptions = try offered(["mledit", "log", "--on"])
        #expect(logOptions.contains { $0.hasPrefix("--oneline[") }, "\(logOptions)")
        #expect(!logOptions.contains { $0.hasPrefix("--allow-partial[") })
        let checkout = try offered(["mledit", "checkout", ""])
        #expect(checkout.contains("*:revision:_mledit_revisions"), "\(checkout)")
        let revisions = try Self.zsh("\(recorders); source '\(file.path)'; _mledit_revisions", in: directory)
        let names = Set(revisions.stdout.split(separator: "\n").map(String.init))
        #expect(names.isSuperset(of: ["main", "side", "HEAD"]), "\(revisions.stdout) \(revisions.stderr)")
    }

    @Test("colour on a terminal only: never in pipes, never with NO_COLOR")
    func colour() throws {
        let (directory, _, _) = try Self.forked()
        defer { CLIHarness.cleanUp(directory) }
        func log(terminal: Bool, environment: [String: String]) -> String {
            let out = OutputCapture()
            let console = Console(environment: CLIHarness.environment(environment), currentDirectory: directory, errorIsTerminal: false,
                                  outputIsTerminal: terminal, out: { out.append($0) }, err: { _ in })
            _ = MLEditCommandLine.run(["log", "--oneline"], console: console)
            return out.value
        }
        #expect(log(terminal: true, environment: ["TERM": "xterm", "NO_COLOR": ""]).contains("\u{1B}[33m"))
        #expect(!log(terminal: true, environment: ["TERM": "xterm", "NO_COLOR": "1"]).contains("\u{1B}"))
        #expect(!log(terminal: false, environment: ["TERM": "xterm"]).contains("\u{1B}"))
        #expect(!log(terminal: true, environment: ["TERM": "dumb"]).contains("\u{1B}"))
    }
}
