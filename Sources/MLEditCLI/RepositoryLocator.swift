// Finding the repository a command works in: --repo/MLEDIT_DIR, else the one enclosing the
// current directory.
import Foundation
import Ledger

enum RepositoryLocator {
    /// The repository named by `--repo`/MLEDIT_DIR, else the one enclosing the current directory.
    /// Returns nil when there is none and `required` is false.
    static func find(console: Console, required: Bool) throws -> Repository? {
        if let directory = console.environment["MLEDIT_DIR"], !directory.isEmpty {
            return try Repository.discover(from: console.url(forPath: directory))
        }
        if let problem = console.currentDirectoryProblem {
            throw CommandFailure("the current directory cannot be used (\(problem.lowercased()); was it deleted?); change to a repository's folder or pass --repo DIR")
        }
        do {
            return try Repository.discover(from: console.currentDirectory)
        } catch LedgerError.repositoryNotFound(let path) {
            if required {
                throw CommandFailure("not an mledit repository (or any parent up to /): \(path); run 'mledit init --model PATH' first")
            }
            return nil
        }
    }

    static func require(_ console: Console) throws -> Repository {
        guard let repository = try find(console: console, required: true) else {
            throw CommandFailure("not an mledit repository")
        }
        return repository
    }
}
