// Writes a file atomically: the bytes go to a temporary file beside the destination, which is
// renamed over it only once complete, so readers never see a partial checkpoint. Format-agnostic.
// A temporary file's name carries its writer's pid, so the next writer of the same destination
// can remove what a killed one left behind (`TemporaryFiles.removeStale`).

import Foundation

/// Sequential writer into a temporary file that becomes `destination` on `commit()`.
struct AtomicFileWriter {
    let destination: URL
    let temporary: URL
    private let handle: FileHandle
    private var pending: [UInt8] = []
    private(set) var bytesWritten = 0
    private static let flushThreshold = 1 << 22

    init(destination: URL) throws {
        self.destination = destination
        TemporaryFiles.removeStale(beside: destination)
        temporary = TemporaryFiles.name(beside: destination, suffix: "tmp")
        guard FileManager.default.createFile(atPath: temporary.path, contents: nil) else {
            throw CheckpointError.io(file: destination.path, reason: "cannot create temporary file \(temporary.path)")
        }
        do {
            handle = try FileHandle(forWritingTo: temporary)
        } catch {
            try? FileManager.default.removeItem(at: temporary)
            throw CheckpointError.io(file: destination.path, reason: "cannot open \(temporary.path): \(error.localizedDescription)")
        }
    }

    mutating func write(_ bytes: [UInt8]) throws {
        pending.append(contentsOf: bytes)
        bytesWritten += bytes.count
        if pending.count >= Self.flushThreshold { try flush() }
    }

    mutating func write(_ data: Data) throws {
        if data.count < Self.flushThreshold {
            pending.append(contentsOf: data)
            bytesWritten += data.count
            if pending.count >= Self.flushThreshold { try flush() }
            return
        }
        try flush()
        do { try handle.write(contentsOf: data) } catch {
            throw CheckpointError.io(file: destination.path, reason: "write failed: \(error.localizedDescription)")
        }
        bytesWritten += data.count
    }

    mutating func writeZeros(_ count: Int) throws {
        try write([UInt8](repeating: 0, count: count))
    }

    private mutating func flush() throws {
        guard !pending.isEmpty else { return }
        do { try handle.write(contentsOf: Data(pending)) } catch {
            throw CheckpointError.io(file: destination.path, reason: "write failed: \(error.localizedDescription)")
        }
        pending.removeAll(keepingCapacity: true)
    }

    /// Flushes, closes and renames the temporary file over the destination.
    mutating func commit() throws {
        do {
            try flush()
            try handle.synchronize()
            try handle.close()
        } catch {
            abandon()
            throw CheckpointError.io(file: destination.path, reason: "write failed: \(error.localizedDescription)")
        }
        guard rename(temporary.path, destination.path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(at: temporary)
            throw CheckpointError.io(file: destination.path, reason: "cannot rename temporary file into place: \(reason)")
        }
    }

    /// Closes and deletes the temporary file.
    func abandon() {
        try? handle.close()
        try? FileManager.default.removeItem(at: temporary)
    }
}

public enum AtomicFile {
    /// Writes `data` to `url` atomically (temporary file, fsync, rename).
    /// - Throws: `CheckpointError.io`.
    public static func write(_ data: Data, to url: URL) throws {
        var writer = try AtomicFileWriter(destination: url)
        do { try writer.write(data) } catch {
            writer.abandon()
            throw error
        }
        try writer.commit()
    }
}

/// The hidden temporary names beside a destination: `.NAME.<pid>.<UUID>.<suffix>`.
public enum TemporaryFiles {
    /// A fresh temporary path beside `destination`, owned by this process.
    public static func name(beside destination: URL, suffix: String) -> URL {
        destination.deletingLastPathComponent()
            .appendingPathComponent(".\(destination.lastPathComponent).\(getpid()).\(UUID().uuidString).\(suffix)")
    }

    /// Removes the temporary files and folders beside `destination` whose writer is no longer
    /// running (and those of the older `.NAME.<UUID>.tmp` form, which carry no pid). Returns the
    /// paths removed.
    @discardableResult
    public static func removeStale(beside destination: URL) -> [String] {
        let directory = destination.deletingLastPathComponent()
        let prefix = ".\(destination.lastPathComponent)."
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory.path) else { return [] }
        var removed: [String] = []
        for entry in entries where entry.hasPrefix(prefix) && (entry.hasSuffix(".tmp") || entry.hasSuffix(".old")) {
            let middle = entry.dropFirst(prefix.count).dropLast(4).split(separator: ".", omittingEmptySubsequences: false)
            let owner: Int32?
            switch middle.count {
            case 1 where UUID(uuidString: String(middle[0])) != nil: owner = nil
            case 2 where UUID(uuidString: String(middle[1])) != nil:
                guard let pid = Int32(middle[0]) else { continue }
                owner = pid
            default: continue
            }
            if let owner, owner == getpid() || isRunning(owner) { continue }
            let path = directory.appendingPathComponent(entry).path
            if (try? FileManager.default.removeItem(atPath: path)) != nil { removed.append(path) }
        }
        return removed
    }

    static func isRunning(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }
}

/// A little-endian byte buffer for building headers.
struct ByteBuffer {
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ string: String) {
        bytes.append(contentsOf: Array(string.utf8))
    }
}
