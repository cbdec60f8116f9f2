// The writer lock as the long-running commands (commit, revert, rebase) take it: `--wait
// SECONDS` (default three minutes; 0 fails at once when another writer holds it), and a note on
// stderr naming the holder while waiting (the library's). The lock itself is the Ledger's.
import Foundation

enum WriterLockOption {
    static let defaultWait: TimeInterval = 180

    static let spec = OptionSpec(["--wait"], value: "SECONDS",
                                 help: "How long to wait for another writer of this repository (default 180; 0 fails at once).")

    /// The seconds `--wait` gives, else the default.
    static func wait(_ arguments: ParsedArguments, command: String) throws -> TimeInterval {
        guard let text = arguments.value("--wait") else { return defaultWait }
        guard let seconds = Double(text), seconds.isFinite, seconds >= 0, seconds <= 86_400 else {
            throw UsageError("--wait expects seconds from 0 to 86400, got '\(text)'", command: command)
        }
        return seconds
    }
}
