// Documents of ordinary text for the preservation statistics, in a fixed order: plain text files
// (one document per paragraph, paragraphs separated by blank lines) and JSONL files (`.jsonl`,
// one JSON object a line with a string field `text`). Reads one file at a time; no tokenizing.
import Foundation

/// Reads corpus documents file after file.
public struct CorpusReader {
    public let paths: [String]
    private var fileIndex = 0
    private var documents: [String] = []
    private var documentIndex = 0

    /// - Throws: `SolverError.corpus` when a file does not exist.
    public init(paths: [String]) throws {
        if paths.isEmpty { throw SolverError.corpus(file: "(none)", line: nil, reason: "no corpus files given") }
        for path in paths where !FileManager.default.isReadableFile(atPath: path) {
            throw SolverError.corpus(file: path, line: nil, reason: "cannot read the file")
        }
        self.paths = paths
    }

    /// The next document, or nil after the last file.
    /// - Throws: `SolverError.corpus` naming the file and line of bytes that are not UTF-8 or a
    ///   JSONL line without a string `text`.
    public mutating func nextDocument() throws -> String? {
        while documentIndex >= documents.count {
            if fileIndex >= paths.count { return nil }
            documents = try Self.read(paths[fileIndex])
            documentIndex = 0
            fileIndex += 1
        }
        documentIndex += 1
        return documents[documentIndex - 1]
    }

    static func read(_ path: String) throws -> [String] {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path))
        } catch {
            throw SolverError.corpus(file: path, line: nil, reason: "cannot read the file")
        }
        guard let text = String(validating: data, as: UTF8.self) else {
            var line = 1
            var start = 0
            let bytes = [UInt8](data)
            for (i, b) in bytes.enumerated() where b == 0x0A {
                if String(validating: bytes[start..<i], as: UTF8.self) == nil { break }
                line += 1
                start = i + 1
            }
            throw SolverError.corpus(file: path, line: line, reason: "not valid UTF-8")
        }
        if path.hasSuffix(".jsonl") {
            var out: [String] = []
            for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
                if line.allSatisfy(\.isWhitespace) { continue }
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let body = object["text"] as? String else {
                    throw SolverError.corpus(file: path, line: index + 1, reason: "not a JSON object with a string 'text'")
                }
                if !body.isEmpty { out.append(body + "\n\n") }
            }
            return out
        }
        var out: [String] = []
        var paragraph: [Substring] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.allSatisfy(\.isWhitespace) {
                if !paragraph.isEmpty { out.append(paragraph.joined(separator: "\n") + "\n\n") }
                paragraph.removeAll()
            } else {
                paragraph.append(line)
            }
        }
        if !paragraph.isEmpty { out.append(paragraph.joined(separator: "\n") + "\n\n") }
        return out
    }
}
