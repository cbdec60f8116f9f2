// Which model file a command runs, and loading its tokenizer: `--model PATH`, else the
// repository's base model, else $MLEDIT_MODEL, else the default model in the cache folder
// (where scripts/fetch-model puts it).
import Checkpoints
import Foundation
import Models

package enum ModelResolution {
    package static let defaultModelFileName = "SmolLM2-135M-Instruct.Q4_1.gguf"

    /// The model a command runs when it takes `--model`.
    package static func modelURL(_ path: String?, session: Session) throws -> URL {
        if let path { return try existing(session.url(forPath: path)) }
        if let path = session.environment["MLEDIT_MODEL"], !path.isEmpty { return try existing(session.url(forPath: path)) }
        let url = session.cacheDirectory.appendingPathComponent(defaultModelFileName)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MLEditError(.notFound, "no model given and the default model is not at \(url.path); run scripts/fetch-model or pass --model PATH")
        }
        return url
    }

    package static func existing(_ url: URL) throws -> URL {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw MLEditError(.notFound, "\(url.path): no such file or directory")
        }
        return url
    }

    /// The folder holding a Hugging Face checkpoint: the path itself, or the folder of a .safetensors file.
    package static func huggingFaceFolder(_ url: URL) -> URL {
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
        return isDirectory.boolValue ? url : url.deletingLastPathComponent()
    }

    package static func isGGUF(_ url: URL) -> Bool { url.pathExtension.lowercased() == "gguf" }

    /// The tokenizer of a GGUF file (its metadata) or of a Hugging Face folder (tokenizer.json).
    package static func tokenizer(for url: URL) throws -> Tokenizer {
        if isGGUF(url) { return try Tokenizer(gguf: GGUFFile(contentsOf: url)) }
        return try Tokenizer(tokenizerJSON: huggingFaceFolder(url).appendingPathComponent("tokenizer.json"))
    }
}

/// A model ready to run, with its tokenizer and, inside a repository, the version it is at.
package struct LoadedModel {
    package var model: any TransformerModel
    package var tokenizer: Tokenizer
    package var url: URL
    package var version: String?

    package init(model: any TransformerModel, tokenizer: Tokenizer, url: URL, version: String?) {
        self.model = model
        self.tokenizer = tokenizer
        self.url = url
        self.version = version
    }
}
