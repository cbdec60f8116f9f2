// The writer lock as the long-running commands (commit, revert, rebase) take it: `--wait
// SECONDS` (default three minutes; 0 fails at once when another writer holds it), and a note on
// stderr naming the holder while waiting. The lock itself is the Ledger's.
import Foundation
import Ledger

enum WriterLockOption {
    static let defaultWait: TimeInterval = 180

    static let spec = OptionSpec(["--wait"], value: "SECONDS",
                                 help: "How long to wait for another writer of this repository (default 180; 0 fails at once).")

    /// Takes `repository`'s writer lock, waiting as `--wait` says.
    static func acquire(_ repository: Repository, arguments: ParsedArguments, console: Console, command: String) throws -> WriterLock {
        var timeout = defaultWait
        if let text = arguments.value("--wait") {
            guard let seconds = Double(text), seconds.isFinite, seconds >= 0, seconds <= 86_400 else {
                throw UsageError("--wait expects seconds from 0 to 86400, got '\(text)'", command: command)
            }
            timeout = seconds
        }
        return try repository.acquireWriterLock(timeout: timeout) { holder in
            guard timeout > 0 else { return }
            let who = holder.map { "process \($0)" } ?? "another mledit process"
            console.note("waiting up to \(Int(timeout.rounded(.up))) s for \(who), which is writing to this repository…")
        }
    }
}
