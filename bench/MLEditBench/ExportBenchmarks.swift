// Export benchmark: `mledit export` of a version with one edited tensor (one ROME commit of one
// CounterFact fact on the default model), run as a child process of the real binary so its wall
// time and peak RSS are its own, against `cp` of the base file to the same folder (with and
// without an fsync of the copy, as export ends with one). GGUF and safetensors. The page cache
// is warm for all runs (the base is read before the first timing).
import Foundation

/// A child process started with posix_spawn and reaped with wait4, for its own resource usage.
/// posix_spawn shares this process's memory until exec, and Linux carries that high-water mark
/// into the child's ru_maxrss; so when GNU time is installed the child runs under
/// `/usr/bin/time` (a small process that forks it) and the figures are time's.
struct ChildProcess {
    static let timeBinary = "/usr/bin/time"

    struct Outcome {
        var status: Int32
        var seconds: Double
        var peakMemoryMiB: Double
        var userSeconds: Double
        var systemSeconds: Double
    }

    /// Runs `executable` with `arguments` in `directory`, standard output and error to `log`.
    static func run(_ executable: String, _ arguments: [String], directory: URL, log: URL) throws -> Outcome {
        guard FileManager.default.isExecutableFile(atPath: timeBinary) else {
            return try spawn(executable, arguments, directory: directory, log: log)
        }
        let metrics = directory.appendingPathComponent("child-usage.txt")
        try? FileManager.default.removeItem(at: metrics)
        var outcome = try spawn(timeBinary, ["-f", "%M %U %S", "-o", metrics.path, executable] + arguments, directory: directory, log: log)
        let fields = ((try? String(contentsOf: metrics, encoding: .utf8)) ?? "")
            .split(whereSeparator: \.isWhitespace).compactMap { Double($0) }
        guard fields.count >= 3 else {
            throw BenchmarkFailure("\(timeBinary) wrote no usage for \(executable) (exit \(outcome.status))")
        }
        outcome.peakMemoryMiB = fields[0] / 1024
        outcome.userSeconds = fields[1]
        outcome.systemSeconds = fields[2]
        return outcome
    }

    static func spawn(_ executable: String, _ arguments: [String], directory: URL, log: URL) throws -> Outcome {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 1, log.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv: [UnsafeMutablePointer<CChar>?] = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let previous = FileManager.default.currentDirectoryPath
        guard FileManager.default.changeCurrentDirectoryPath(directory.path) else {
            throw BenchmarkFailure("cannot enter \(directory.path)")
        }
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        var pid: pid_t = 0
        let start = DispatchTime.now().uptimeNanoseconds
        let spawned = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard spawned == 0 else {
            throw BenchmarkFailure("posix_spawn \(executable): \(String(cString: strerror(spawned)))")
        }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 {
            guard errno == EINTR else { throw BenchmarkFailure("wait4 \(executable): \(String(cString: strerror(errno)))") }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let exited = status & 0x7f == 0
        return Outcome(status: exited ? (status >> 8) & 0xff : 128 + (status & 0x7f), seconds: seconds,
                       peakMemoryMiB: Double(usage.ru_maxrss) / 1024,
                       userSeconds: Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6,
                       systemSeconds: Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6)
    }
}

extension Benchmarks {
    /// The mledit binary: $MLEDIT, else the `mledit` beside this executable.
    static func mleditBinary() throws -> String {
        if let path = ProcessInfo.processInfo.environment["MLEDIT"], !path.isEmpty { return path }
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        let sibling = here.deletingLastPathComponent().appendingPathComponent("mledit").path
        guard FileManager.default.isExecutableFile(atPath: sibling) else {
            throw BenchmarkFailure("no mledit binary: set MLEDIT or build the mledit product beside MLEditBench")
        }
        return sibling
    }

    static func directorySize(_ url: URL) -> Int {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []
        return names.map { fileSize(url.appendingPathComponent($0).path) }.reduce(0, +)
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return .nan }
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    /// Runs a child `repeats` times (removing `output` before each) and summarises: median and
    /// every wall time, the largest peak RSS, MB/s of `bytes(output)` over the median time.
    static func timedChild(_ executable: String, _ arguments: [String], directory: URL, output: URL, repeats: Int,
                           bytes: (URL) -> Int) throws -> [String: Any] {
        var seconds: [Double] = [], peak = 0.0, cpu: [Double] = []
        let log = directory.appendingPathComponent("child.log")
        for _ in 0 ..< repeats {
            try? FileManager.default.removeItem(at: output)
            let outcome = try ChildProcess.run(executable, arguments, directory: directory, log: log)
            guard outcome.status == 0 else {
                let tail = (try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").last.map(String.init) ?? ""
                throw BenchmarkFailure("\(executable) \(arguments.joined(separator: " ")) exited \(outcome.status): \(tail)")
            }
            seconds.append(outcome.seconds)
            cpu.append(outcome.userSeconds + outcome.systemSeconds)
            peak = max(peak, outcome.peakMemoryMiB)
        }
        let size = bytes(output), middle = median(seconds)
        return ["seconds_median": middle, "seconds_all": seconds, "cpu_seconds_median": median(cpu),
                "peak_memory_mib": peak, "output_bytes": size, "megabytes_per_second": Double(size) / 1e6 / middle]
    }

    /// `export`: one ROME commit of one fact, then the GGUF and safetensors exports of HEAD by the
    /// real binary (3 runs each) against `cp` of the base GGUF into the same folder (3 runs).
    /// Arguments: model, facts file. MLEDIT_BENCH_EXPORT_REPEATS overrides the 3.
    static func export(_ arguments: [String]) throws -> [String: Any] {
        let model = modelURL(arguments)
        let binary = try mleditBinary()
        let repeats = max(1, integerEnvironment("MLEDIT_BENCH_EXPORT_REPEATS", 3))
        let facts = try CounterFactRecords(url: CounterFactRecords.url(arguments), start: 0, count: 1)
        let loadAtStart = loadAverage()
        let work = try scratchDirectory("export")
        defer { try? FileManager.default.removeItem(at: work) }
        let repository = work.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: repository, withIntermediateDirectories: true)
        let driver = LibraryDriver(directory: repository)
        let factFile = try facts.write(0 ..< 1, to: work, name: "fact.json")
        try driver.create(model: model)
        let (commit, commitSeconds, commitNotes) = try driver.commit(factFile, method: .rome, message: "one fact")

        let ggufOutput = work.appendingPathComponent("export.gguf")
        let copyOutput = work.appendingPathComponent("copy.gguf")
        let folderOutput = work.appendingPathComponent("export-hf")
        // Warm the page cache with the base file so every run reads it from memory.
        _ = try Data(contentsOf: model, options: .alwaysMapped).reduce(0) { $0 &+ Int($1) }

        let cp = try timedChild("/bin/cp", [model.path, copyOutput.path], directory: work, output: copyOutput,
                                repeats: repeats, bytes: { fileSize($0.path) })
        // export ends with an fsync of its output (AtomicFileWriter); cp does not: the same with one.
        let cpSync = try timedChild("/bin/sh", ["-c", "cp \"$0\" \"$1\" && sync \"$1\"", model.path, copyOutput.path], directory: work,
                                    output: copyOutput, repeats: repeats, bytes: { fileSize($0.path) })
        let gguf = try timedChild(binary, ["--repo", repository.path, "export", "--output", ggufOutput.path],
                                  directory: work, output: ggufOutput, repeats: repeats, bytes: { fileSize($0.path) })
        let safetensors = try timedChild(binary, ["--repo", repository.path, "export", "--format", "safetensors", "--output", folderOutput.path],
                                         directory: work, output: folderOutput, repeats: repeats, bytes: directorySize)
        let ggufMiddle = gguf["seconds_median"] as? Double ?? .nan, cpMiddle = cp["seconds_median"] as? Double ?? .nan
        return [
            "model": model.path, "model_bytes": fileSize(model.path), "binary": binary, "repeats": repeats,
            "load_average_start": loadAtStart, "load_average_end": loadAverage(),
            "commit": ["method": "rome", "facts": 1, "seconds": commitSeconds, "efficacy": commit.edit.result.efficacy,
                       "layers": commit.edit.result.layers.map(\.layer),
                       "computed_statistics": commitNotes.contains("computing preservation statistics")],
            "cp": cp, "cp_then_fsync": cpSync, "export_gguf": gguf, "export_safetensors": safetensors,
            "export_gguf_over_cp_time": ggufMiddle / cpMiddle,
            "export_gguf_over_cp_then_fsync_time": ggufMiddle / (cpSync["seconds_median"] as? Double ?? .nan),
        ]
    }
}
