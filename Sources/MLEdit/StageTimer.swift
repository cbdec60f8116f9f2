// Wall time per stage of a command, printed to stderr when MLEDIT_TIMINGS is set: what a
// profile of one run shows without a profiler (bench/RESULTS.md uses it to split a commit).
import Foundation

package final class StageTimer {
    private let session: Session
    private let enabled: Bool
    private var last = DispatchTime.now()
    private let start = DispatchTime.now()

    package init(session: Session) {
        self.session = session
        enabled = session.environment["MLEDIT_TIMINGS"] != nil
    }

    /// Ends the stage running since the previous mark.
    package func mark(_ stage: String) {
        guard enabled else { return }
        let now = DispatchTime.now()
        let seconds = Double(now.uptimeNanoseconds - last.uptimeNanoseconds) / 1e9
        let total = Double(now.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
        session.note(String(format: "timing: %@ %.3f s (%.3f s in all)", stage, seconds, total))
        last = now
    }
}
