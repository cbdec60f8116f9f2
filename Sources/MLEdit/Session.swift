// What a caller of the library provides: its environment variables (MLEDIT_CACHE, MLEDIT_CORPUS,
// MLEDIT_MODEL, MLEDIT_TIMINGS, …), the directory relative paths are resolved against, and where
// notes and progress go. The command line passes its console's; a program passes its own, or
// `Session.quiet` to hear nothing.
import Foundation

/// Progress of one long task with a known number of steps.
public protocol TaskProgress: AnyObject {
    func update(_ completed: Int)
    func finish()
}

public struct Session {
    public var environment: [String: String]
    public var currentDirectory: URL
    /// Receives notes and warnings, one line each, as the command line prints them on stderr.
    public var note: (String) -> Void
    /// Starts the report of a task (`label`, `total` steps).
    public var progress: (_ label: String, _ total: Int) -> TaskProgress

    public init(environment: [String: String] = ProcessInfo.processInfo.environment,
                currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath),
                note: @escaping (String) -> Void = { _ in },
                progress: @escaping (String, Int) -> TaskProgress = { _, _ in SilentProgress() }) {
        self.environment = environment
        self.currentDirectory = currentDirectory
        self.note = note
        self.progress = progress
    }

    /// The process's environment and directory; notes and progress are dropped.
    public static var quiet: Session { Session() }

    /// Resolves a user-given path against the current directory (`~/` against HOME).
    public func url(forPath path: String) -> URL {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL }
        if path.hasPrefix("~/"), let home = environment["HOME"] {
            return URL(fileURLWithPath: home).appendingPathComponent(String(path.dropFirst(2))).standardizedFileURL
        }
        return currentDirectory.appendingPathComponent(path).standardizedFileURL
    }

    /// The folder of the default model, the shared statistics and the corpus: $MLEDIT_CACHE, else
    /// ~/.cache/mledit.
    public var cacheDirectory: URL {
        if let cache = environment["MLEDIT_CACHE"], !cache.isEmpty { return url(forPath: cache) }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".cache/mledit")
    }
}

/// Progress nobody watches.
public final class SilentProgress: TaskProgress {
    public init() {}
    public func update(_ completed: Int) {}
    public func finish() {}
}
