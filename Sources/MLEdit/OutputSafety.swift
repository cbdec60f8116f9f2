// Where a command may write a file or folder of its own (export, report): never onto or into the
// repository's `.mledit`, never onto a base model, never over a file or into a folder that is not
// a previous output of the same kind unless the user says `--force` — and a folder that holds the
// repository or a base model not even then. Checked before any work, on resolved paths, so a
// symlink or `..` cannot lead around it.
import Checkpoints
import Foundation
import Ledger
import Models

package enum OutputSafety {
    package enum Kind {
        /// One file; `isPreviousOutput` recognises one this command wrote before.
        case file(isPreviousOutput: (URL) -> Bool)
        /// A folder of files with an export manifest (see `ExportFolder`).
        case folder
    }

    /// Refuses `output` with a one-line error when writing it could destroy something.
    /// - Parameters:
    ///   - repository: the repository whose files are protected (nil outside one).
    ///   - models: checkpoints that must not be written over (the base models, the source).
    package static func check(_ output: URL, kind: Kind, repository: Repository?, models: [URL], force: Bool) throws {
        let target = resolved(output)
        let shown = output.path
        if let repository {
            let ledgerFolder = resolved(repository.ledgerURL.deletingLastPathComponent())
            if target == ledgerFolder {
                throw MLEditError(.invalidInput, "\(shown) is the repository's .mledit folder, which holds its history; choose a path outside it")
            }
            if isInside(target, ledgerFolder) {
                throw MLEditError(.invalidInput, "\(shown) is inside the repository's .mledit folder, which holds its history; choose a path outside it")
            }
            if case .folder = kind, isInside(ledgerFolder, target) {
                throw MLEditError(.invalidInput, "\(shown) holds the repository itself (\(ledgerFolder)); write into a folder of its own")
            }
        }
        for model in models {
            let protected = resolved(model)
            if target == protected {
                throw MLEditError(.invalidInput, "\(shown) is a model checkpoint mledit reads; choose another output path")
            }
            if isInside(target, protected) {
                throw MLEditError(.invalidInput, "\(shown) is inside the model checkpoint \(protected); choose another output path")
            }
            if case .folder = kind, isInside(protected, target) {
                throw MLEditError(.invalidInput, "\(shown) holds the model checkpoint \(protected); write into a folder of its own")
            }
        }
        switch kind {
        case .file(let isPreviousOutput):
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory) else { return }
            if isDirectory.boolValue {
                throw MLEditError(.invalidInput, "\(shown) is a folder; give the path of a file")
            }
            if !force && !isPreviousOutput(URL(fileURLWithPath: target)) {
                throw MLEditError(.invalidInput, "\(shown) exists and was not written by mledit; remove it, choose another path, or pass --force to replace it")
            }
        case .folder:
            switch ExportFolder.state(of: URL(fileURLWithPath: target)) {
            case .notAFolder:
                throw MLEditError(.invalidInput, "\(shown) exists and is not a folder")
            case .foreign(let names) where !force:
                let listed = names.prefix(3).joined(separator: ", ") + (names.count > 3 ? ", … (\(names.count) in all)" : "")
                throw MLEditError(.invalidInput, "\(shown) holds files no export wrote (\(listed)); choose a new or empty folder, or pass --force to replace only the files the export writes")
            default: return
            }
        }
    }

    /// What must not be written over: `source` and every base model of `repository` — a GGUF
    /// file, or a Hugging Face checkpoint's whole folder.
    package static func checkpoints(source: URL?, repository: Repository?) throws -> [URL] {
        let files = [source].compactMap { $0 } + (try repository?.baseModels().map { URL(fileURLWithPath: $0.path) } ?? [])
        return files.map { ModelResolution.isGGUF($0) ? $0 : ModelResolution.huggingFaceFolder($0) }
    }

    /// The absolute path with symlinks resolved along its existing part (the rest appended).
    package static func resolved(_ url: URL) -> String {
        var existing = url.standardizedFileURL
        var rest: [String] = []
        while !FileManager.default.fileExists(atPath: existing.path) {
            let parent = existing.deletingLastPathComponent()
            if parent.path == existing.path { break }
            rest.insert(existing.lastPathComponent, at: 0)
            existing = parent
        }
        var base = existing.path
        if let real = realpath(existing.path, nil) {
            base = String(cString: real)
            free(real)
        }
        return rest.reduce(URL(fileURLWithPath: base)) { $0.appendingPathComponent($1) }.standardizedFileURL.path
    }

    package static func isInside(_ path: String, _ folder: String) -> Bool {
        path.hasPrefix(folder.hasSuffix("/") ? folder : folder + "/")
    }

    /// Whether `url` is a GGUF file an export wrote (its metadata has mledit's keys).
    package static func isExportedGGUF(_ url: URL) -> Bool {
        guard let file = try? GGUFFile(contentsOf: url) else { return false }
        return file.metadata.contains { $0.key.hasPrefix("mledit.") }
    }
}
