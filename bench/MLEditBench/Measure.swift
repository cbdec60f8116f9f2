// Timing and memory probes for the benchmarks: wall-clock seconds and the process's peak
// resident set size (each benchmark runs in its own process, so the peak is its own).
import Foundation

enum Measure {
    static func seconds<T>(_ body: () throws -> T) rethrows -> (T, Double) {
        let start = DispatchTime.now().uptimeNanoseconds
        let value = try body()
        return (value, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }

    /// The fastest of `count` runs of `body`, in wall-clock seconds.
    static func best(of count: Int, _ body: () throws -> Void) rethrows -> Double {
        var fastest = Double.infinity
        for _ in 0..<max(count, 1) { fastest = min(fastest, try seconds(body).1) }
        return fastest
    }

    /// Process CPU seconds so far (all threads).
    static var processCPUSeconds: Double {
        var spec = timespec()
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }

    /// Peak resident set size of this process, in MiB.
    static var peakMemoryMiB: Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_maxrss) / 1024  // ru_maxrss is in KiB on Linux
    }
}
