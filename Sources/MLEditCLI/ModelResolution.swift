// Which model file a command runs, and loading its tokenizer: `--model PATH`, else the
// repository's base model, else $MLEDIT_MODEL, else the default model in the cache folder
// (where scripts/fetch-model puts it).
import Checkpoints
import Foundation
import Models

enum ModelResolution {
    static let defaultModelFileName = "SmolLM2-135M-Instruct.Q4_1.gguf"

    static func cacheDirectory(_ console: Console) -> URL {
        if let cache = console.environment["MLEDIT_CACHE"], !cache.isEmpty { return console.url(forPath: cache) }
        let home = console.environment["HOME"] ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".cache/mledit")
    }

    /// The model a command runs when it takes `--model`.
    static func modelURL(_ path: String?, console: Console) throws -> URL {
        if let path { return try existing(console.url(forPath: path)) }
        if let path = console.environment["MLEDIT_MODEL"], !path.isEmpty { return try existing(console.url(forPath: path)) }
        let url = cacheDirectory(console).appendingPathComponent(defaultModelFileName)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CommandFailure("no model given and the default model is not at \(url.path); run scripts/fetch-model or pass --model PATH")
        }
        return url
    }

    static func existing(_ url: URL) throws -> URL {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw CommandFailure("\(url.path): no such file or directory")
        }
        return url
    }

    /// The folder holding a Hugging Face checkpoint: the path itself, or the folder of a .safetensors file.
    static func huggingFaceFolder(_ url: URL) -> URL {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        return isDirectory.boolValue ? url : url.deletingLastPathComponent()
    }

    static func isGGUF(_ url: URL) -> Bool { url.pathExtension.lowercased() == "gguf" }

    /// The tokenizer of a GGUF file (its metadata) or of a Hugging Face folder (tokenizer.json).
    static func tokenizer(for url: URL) throws -> Tokenizer {
        if isGGUF(url) { return try Tokenizer(gguf: GGUFFile(contentsOf: url)) }
        return try Tokenizer(tokenizerJSON: huggingFaceFolder(url).appendingPathComponent("tokenizer.json"))
    }
}

/// A model ready to run, with its tokenizer and, inside a repository, the version it is at.
struct LoadedModel {
    var model: any TransformerModel
    var tokenizer: Tokenizer
    var url: URL
    var version: String?
}

extension ModelResolution {
    /// Loads the model a command runs: `--model PATH` as it is on disk, else (inside a repository)
    /// the base model with the edits of `revision` (default HEAD) applied, else the default model.
    static func loadModel(path: String?, revision: String?, console: Console) throws -> LoadedModel {
        if path == nil, let repository = try RepositoryLocator.find(console: console, required: revision != nil) {
            return try VersionLoader.load(repository: repository, revision: revision ?? "HEAD", console: console)
        }
        let url = try modelURL(path, console: console)
        return LoadedModel(model: try ModelLoader.load(url: url), tokenizer: try tokenizer(for: url), url: url, version: nil)
    }
}
