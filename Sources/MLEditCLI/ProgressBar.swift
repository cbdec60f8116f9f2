// A one-line progress bar on standard error, drawn only when standard error is a terminal so
// that logs and pipes stay clean; elsewhere a long task still says how far it is, one line every
// half minute.
import Foundation
import MLEdit

/// Progress of a long task with a known number of steps.
public final class ProgressBar: TaskProgress, @unchecked Sendable {
    private let console: Console
    private let label: String
    private let total: Int
    private var lastDrawn = -1
    private let started = Date()
    private var lastLine = Date()
    static let lineInterval: TimeInterval = 30

    public init(console: Console, label: String, total: Int) {
        self.console = console
        self.label = label
        self.total = max(total, 1)
    }

    /// Redraws when the percentage changes.
    public func update(_ done: Int) {
        let percent = min(100, done * 100 / total)
        guard console.errorIsTerminal else {
            let now = Date()
            if now.timeIntervalSince(lastLine) >= Self.lineInterval {
                lastLine = now
                console.note(String(format: "%@: %d%% after %.0f s", label, percent, now.timeIntervalSince(started)))
            }
            return
        }
        if percent == lastDrawn { return }
        lastDrawn = percent
        let width = 30
        let filled = percent * width / 100
        let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
        let elapsed = Date().timeIntervalSince(started)
        console.writeError(String(format: "\r%@ %@ %3d%% %.0fs", label, bar, percent, elapsed))
    }

    /// Clears the line.
    public func finish() {
        guard console.errorIsTerminal, lastDrawn >= 0 else { return }
        console.writeError("\r\u{1B}[2K")
    }
}
