// Folder exports (Hugging Face, LoRA) and what they may replace. Every folder export carries a
// manifest of the files it wrote; a folder is replaced whole only when it is new, empty, or holds
// nothing but a previous export's files. Into any other folder an export writes only when told to
// (`replacingForeignFiles`), and then replaces only the files it writes, one atomic rename each,
// leaving everything else in place.
import Checkpoints
import Foundation

/// What a folder destination holds before an export.
public enum ExportFolderState: Equatable, Sendable {
    case absent
    case empty
    /// Only files a previous export wrote (its manifest lists them).
    case previousExport
    /// Files no export wrote, by name (sorted).
    case foreign([String])
    /// A file, not a folder.
    case notAFolder
}

public enum ExportFolder {
    /// The manifest every folder export writes beside its files.
    public static let manifestName = "mledit-export.json"

    /// What `folder` holds now. Hidden temporary files of export runs are not counted.
    public static func state(of folder: URL) -> ExportFolderState {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) else { return .absent }
        guard isDirectory.boolValue else { return .notAFolder }
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        if entries.isEmpty { return .empty }
        let written = Set(manifestFiles(in: folder) ?? [])
        let foreign = entries.filter { $0 != manifestName && !written.contains($0) }
        if foreign.isEmpty && !written.isEmpty { return .previousExport }
        return .foreign(foreign)
    }

    /// The files the manifest in `folder` lists, or nil when there is no readable manifest.
    static func manifestFiles(in folder: URL) -> [String]? {
        guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(manifestName).path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              object["writer"] as? String == "mledit export" else { return nil }
        return object["files"] as? [String]
    }

    static func manifest(files: [String]) -> Data {
        let object = ExportJSON.object([
            ("files", .array(files.sorted().map { .string($0) })),
            ("writer", .string("mledit export")),
        ])
        return object.rendered()
    }
}

extension CheckpointExport {
    /// Runs `body` on a fresh hidden folder beside `destination`, adds the manifest, then puts the
    /// result in place: a new, empty or previously exported folder is swapped whole (the old one
    /// moved aside and removed once the new one is in place); a folder with other files is refused,
    /// or with `replacingForeignFiles` receives the new files one rename each. On failure nothing
    /// at the destination changes and the temporary folder is removed.
    static func writeFolderAtomically(_ destination: URL, replacingForeignFiles: Bool,
                                      _ body: (URL) throws -> Void) throws {
        let fm = FileManager.default
        let state = ExportFolder.state(of: destination)
        switch state {
        case .notAFolder:
            throw ModelError.checkpoint("\(destination.path): exists and is not a folder")
        case .foreign(let names) where !replacingForeignFiles:
            throw ModelError.checkpoint("\(destination.path): the folder holds files no export wrote (\(names.prefix(3).joined(separator: ", "))\(names.count > 3 ? ", …" : "")); nothing was written")
        default: break
        }
        TemporaryFiles.removeStale(beside: destination)
        let temporary = TemporaryFiles.name(beside: destination, suffix: "tmp")
        do {
            try fm.createDirectory(at: temporary, withIntermediateDirectories: true)
        } catch {
            throw ModelError.checkpoint("\(temporary.path): cannot create: \(error.localizedDescription)")
        }
        let files: [String]
        do {
            try body(temporary)
            files = try fm.contentsOfDirectory(atPath: temporary.path).sorted()
            try write(ExportFolder.manifest(files: files), to: temporary.appendingPathComponent(ExportFolder.manifestName))
        } catch {
            try? fm.removeItem(at: temporary)
            throw error
        }
        if case .foreign = state {
            defer { try? fm.removeItem(at: temporary) }
            for name in files + [ExportFolder.manifestName] {
                let from = temporary.appendingPathComponent(name), to = destination.appendingPathComponent(name)
                guard rename(from.path, to.path) == 0 else {
                    throw ModelError.checkpoint("\(to.path): cannot move the new file into place: \(String(cString: strerror(errno)))")
                }
            }
            return
        }
        var aside: URL?
        if state != .absent {
            let old = TemporaryFiles.name(beside: destination, suffix: "old")
            guard rename(destination.path, old.path) == 0 else {
                let reason = String(cString: strerror(errno))
                try? fm.removeItem(at: temporary)
                throw ModelError.checkpoint("\(destination.path): cannot move the existing folder aside: \(reason)")
            }
            aside = old
        }
        guard rename(temporary.path, destination.path) == 0 else {
            let reason = String(cString: strerror(errno))
            if let aside { _ = rename(aside.path, destination.path) }
            try? fm.removeItem(at: temporary)
            throw ModelError.checkpoint("\(destination.path): cannot rename the new folder into place: \(reason)")
        }
        if let aside { try? fm.removeItem(at: aside) }
    }
}
