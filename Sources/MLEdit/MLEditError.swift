// The one error the MLEdit library throws for what its caller asked: phrased as the single line
// a user reads (the command line prints it after "Error: "), with a kind a program can branch on.
// Errors of the lower libraries (LedgerError, ModelError, SolverError, …) pass through unchanged.
import Foundation

public struct MLEditError: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Kind: String, Sendable {
        /// A file, a value or an option the caller gave is not what it must be.
        case invalidInput
        /// Something named (a file, a revision, a base model) is not there.
        case notFound
        /// The request contradicts the repository's state (already reverted, not in the history, …).
        case conflict
        /// Stored data cannot be read or does not fit; fsck is the way out.
        case damaged
        /// The edit was computed but did not do what it must (facts that did not land).
        case editFailed
    }

    public var kind: Kind
    public var message: String
    public var description: String { message }

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    /// `error` in one line: its description with line breaks joined.
    public static func oneLine(_ error: Error) -> String {
        String(describing: error).split(whereSeparator: \.isNewline).joined(separator: " ")
    }
}
