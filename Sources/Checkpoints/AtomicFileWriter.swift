// Writes a file atomically: the bytes go to a temporary file beside the destination, which is
// renamed over it only once complete, so readers never see a partial checkpoint. Format-agnostic.

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
        let directory = destination.deletingLastPathComponent()
        temporary = directory.appendingPathComponent(".\(destination.lastPathComponent).\(UUID().uuidString).tmp")
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
