// Shared test plumbing for ModelsTests: fixture locations (found from this file's path), the
// default model's path, JSON loading, and tolerance helpers that report the largest difference.
import Foundation
import Models
import Tensors
import Testing

enum Fixtures {
    /// Tests/Fixtures, located from this source file.
    static let root = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    static func url(_ relative: String) -> URL { root.appendingPathComponent(relative) }

    static func json(_ relative: String) throws -> [String: Any] {
        let data = try Data(contentsOf: url(relative))
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw FixtureError.malformed(relative)
        }
        return object
    }

    /// The default model: $MLEDIT_MODEL, else $MLEDIT_CACHE (default ~/.cache/mledit)/SmolLM2-135M-Instruct.Q4_1.gguf.
    static var defaultModelURL: URL {
        let environment = ProcessInfo.processInfo.environment
        if let path = environment["MLEDIT_MODEL"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let cache = environment["MLEDIT_CACHE"].flatMap { $0.isEmpty ? nil : $0 }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/mledit").path
        return URL(fileURLWithPath: cache).appendingPathComponent("SmolLM2-135M-Instruct.Q4_1.gguf")
    }
}

enum FixtureError: Error, CustomStringConvertible {
    case malformed(String)
    case missingModel(String)
    var description: String {
        switch self {
        case let .malformed(what): return "malformed fixture: \(what)"
        case let .missingModel(path): return "default model missing at \(path) (run `make model` or set MLEDIT_MODEL)"
        }
    }
}

/// The SmolLM2 model, loaded once for the whole test run. Tests must not change its weights.
enum SharedModels {
    nonisolated(unsafe) static let smolLM2: Result<any TransformerModel, any Error> = Result {
        let url = Fixtures.defaultModelURL
        guard FileManager.default.fileExists(atPath: url.path) else { throw FixtureError.missingModel(url.path) }
        return try ModelLoader.load(url: url)
    }

    static func smol() throws -> any TransformerModel { try smolLM2.get() }
}

// MARK: - JSON access

func ints(_ value: Any?) -> [Int] { (value as? [Any])?.compactMap { ($0 as? NSNumber)?.intValue } ?? [] }
func doubles(_ value: Any?) -> [Double] { (value as? [Any])?.compactMap { ($0 as? NSNumber)?.doubleValue } ?? [] }
func dictionary(_ value: Any?) -> [String: Any] { value as? [String: Any] ?? [:] }
func dictionaries(_ value: Any?) -> [[String: Any]] { value as? [[String: Any]] ?? [] }
func number(_ value: Any?) -> Double { (value as? NSNumber)?.doubleValue ?? .nan }

// MARK: - Tolerances

/// Largest |a − b| over paired elements (infinity on a length mismatch).
func maxAbsDifference(_ a: [Double], _ b: [Double]) -> Double {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) }.max() ?? 0
}

/// Largest |a − b| / max(|b|, tiny) over paired elements.
func maxRelativeDifference(_ a: [Double], _ b: [Double]) -> Double {
    guard a.count == b.count else { return .infinity }
    return zip(a, b).map { abs($0 - $1) / max(abs($1), 1e-30) }.max() ?? 0
}

func l2(_ values: ArraySlice<Float>) -> Double { values.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

/// L2 norm of each row.
func rowNorms(_ m: Matrix<Float>) -> [Double] {
    (0..<m.rows).map { l2(m.values[($0 * m.cols)..<(($0 + 1) * m.cols)]) }
}

func rowDoubles(_ m: Matrix<Float>, _ r: Int) -> [Double] { m.row(r).map(Double.init) }
