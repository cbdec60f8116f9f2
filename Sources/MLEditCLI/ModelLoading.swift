// The model a command that takes --model runs: the file given, else (inside a repository) a
// version of the repository's model, else the default model.
import Foundation
import MLEdit
import Models

extension ModelResolution {
    /// Loads the model a command runs: `--model PATH` as it is on disk, else (inside a repository)
    /// the base model with the edits of `revision` (default HEAD) applied, else the default model.
    static func loadModel(path: String?, revision: String?, console: Console) throws -> LoadedModel {
        if path == nil, let repository = try RepositoryLocator.find(console: console, required: revision != nil) {
            return try VersionLoader.load(repository: repository, revision: revision ?? "HEAD", session: console.session)
        }
        let url = try modelURL(path, session: console.session)
        return LoadedModel(model: try ModelLoader.load(url: url), tokenizer: try tokenizer(for: url), url: url, version: nil)
    }
}
