// Plumbing for the export tests: temporary folders, a deterministic perturbation of a weight
// matrix, running Python checks (gguf / safetensors / numpy) in a subprocess that must succeed,
// and raw Float32 files for handing expected values to Python. No expectations of its own.
import Foundation
import Models
import Tensors
import Testing

enum ExportTestSupport {
    /// A fresh empty directory; remove it with `cleanUp`.
    static func temporaryDirectory() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mledit-export-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    static func cleanUp(_ url: URL) { try? FileManager.default.removeItem(at: url) }

    /// `matrix` plus a seeded rank-2 change of relative size about `scale`.
    static func perturbed(_ matrix: Matrix<Float>, seed: UInt64, scale: Float = 0.5) -> Matrix<Float> {
        var generator = SeededGenerator(seed: seed)
        let peak = matrix.values.map(abs).max() ?? 1
        var out = matrix
        let u = (0..<(2 * matrix.rows)).map { _ in Float.random(in: -1...1, using: &generator) }
        let v = (0..<(2 * matrix.cols)).map { _ in Float.random(in: -1...1, using: &generator) }
        for r in 0..<matrix.rows {
            for c in 0..<matrix.cols {
                out.values[r * matrix.cols + c] += scale * peak * (u[2 * r] * v[2 * c] + u[2 * r + 1] * v[2 * c + 1]) / 2
            }
        }
        return out
    }

    /// Writes little-endian Float32 values (read in Python with `numpy.fromfile(path, '<f4')`).
    static func writeFloats(_ values: [Float], to url: URL) throws {
        var data = Data(capacity: values.count * 4)
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { data.append(contentsOf: $0) } }
        try data.write(to: url)
    }

    /// Runs `script` with python3 (arguments in `sys.argv[1:]`); the test fails unless it exits 0.
    static func python(_ script: String, _ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let errors = Pipe(), output = Pipe()
        process.standardError = errors
        process.standardOutput = output
        try process.run()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        _ = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let message = String(decoding: errorData, as: UTF8.self)
        #expect(process.terminationStatus == 0, "python check failed: \(message)")
    }

    /// Largest |a − b| between two logit matrices (infinity on a shape mismatch).
    static func maxDifference(_ a: Matrix<Float>, _ b: Matrix<Float>) -> Float {
        guard a.rows == b.rows, a.cols == b.cols else { return .infinity }
        return zip(a.values, b.values).map { abs($0 - $1) }.max() ?? 0
    }

    /// A short prompt of valid ids for a model.
    static func prompt(_ model: any TransformerModel) -> [Int] {
        let vocabulary = model.configuration.vocabularySize
        return [5, 17, 42, 99, 3, 250, 7, 64].map { $0 % vocabulary }
    }
}
