// Writing a model version back out as an ordinary checkpoint: a GGUF copy of the source with some
// tensors replaced (this file), a Hugging Face folder (CheckpointExport+HuggingFace.swift) and a
// PEFT LoRA adapter (CheckpointExport+LoRA.swift). Replacement tensors ("overrides") are given in
// the internal convention (canonical names, out × in, Q/K rows in rotate-half order) and converted
// to each format's layout here. Export knows nothing of the ledger: the caller merges the deltas.
import Checkpoints
import Foundation
import Tensors

/// The floating-point type replaced tensors (GGUF) or all tensors (safetensors) are written in.
public enum ExportPrecision: String, Sendable, CaseIterable {
    case f32, f16, bf16

    /// The GGUF element type.
    public var ggmlType: GGMLType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        }
    }

    /// The safetensors dtype.
    public var safetensorsDType: SafetensorsDType {
        switch self {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        }
    }
}

/// What re-quantizing an edited tensor did to it (all norms Frobenius, computed in Float64).
public struct RequantizationEffect: Sendable, Equatable {
    /// ‖Q(W′) − W′‖ / ‖W′‖: the error of the re-quantized merged tensor.
    public var relativeError: Double
    /// ⟨Q(W′) − W, Δ⟩ / ‖Δ‖² with Δ = W′ − W: the share of the edit that survives along its own
    /// direction (1 = all of it).
    public var deltaRetained: Double
    /// ‖(Q(W′) − W) − Δ‖ / ‖Δ‖: how far the delta the file now carries is from the edit.
    public var deltaRelativeError: Double
    /// ‖Δ‖, the norm of the edit.
    public var deltaNorm: Double
}

/// One tensor written with new values.
public struct ExportedTensor: Sendable, Equatable {
    /// The name in the written file.
    public var name: String
    /// The type it was written in.
    public var type: GGMLType
    /// Set when the tensor was re-quantized.
    public var requantization: RequantizationEffect?
}

/// What `CheckpointExport.writeGGUF` wrote.
public struct GGUFExportReport: Sendable, Equatable {
    /// Tensors written with new values, in file order.
    public var replacedTensors: [ExportedTensor]
    /// Tensors copied byte for byte.
    public var copiedTensorCount: Int
}

/// Writes checkpoints: GGUF, Hugging Face safetensors folders, PEFT LoRA adapters.
public enum CheckpointExport {
    /// Writes a copy of `source` in which the tensors named in `overrides` are replaced.
    ///
    /// Every other tensor is copied byte for byte in its stored type (quantized ones too), straight
    /// from the mapping, so memory stays near the size of the replaced tensors. All metadata is
    /// kept; `extraMetadata` is added after it (replacing keys of the same name).
    ///
    /// - Parameters:
    ///   - overrides: canonical name → new values in the internal convention (out × in; Llama Q/K
    ///     rows in rotate-half order; GPT-2 `attn_q/k/v` parts of the fused `attn_qkv`).
    ///   - precision: the type replaced tensors are written in (default F16).
    ///   - requantize: Q8_0, Q4_0 or Q4_1 to re-quantize replaced tensors instead; the effect on
    ///     each is measured against the source tensor and returned.
    /// - Throws: `ModelError.missingTensor` for an override naming no tensor of the source,
    ///   `.tensorShape` for one of the wrong shape, `.unsupportedFeature` for a quantization type
    ///   that is not available or does not fit, `.checkpoint` for read and write failures.
    @discardableResult
    public static func writeGGUF(source: GGUFFile, overrides: [String: Matrix<Float>],
                                 precision: ExportPrecision = .f16, requantize: GGMLType? = nil,
                                 extraMetadata: [GGUFMetadataEntry] = [], to url: URL) throws -> GGUFExportReport {
        let configuration = try ModelConfiguration(gguf: source)
        if let requantize, ![GGMLType.q8_0, .q4_0, .q4_1].contains(requantize) {
            throw ModelError.unsupportedFeature(file: url.path, feature: "re-quantizing to \(requantize.name) (Q8_0, Q4_0 or Q4_1 only)")
        }
        let replacements = try storedReplacements(overrides, architecture: configuration.architecture) { source.tensor(named: $0) != nil }

        var writer = GGUFWriter(alignment: source.alignment)
        for entry in source.metadata { writer.addMetadata(entry.key, entry.value) }
        for entry in extraMetadata { writer.addMetadata(entry.key, entry.value) }
        var report = GGUFExportReport(replacedTensors: [], copiedTensorCount: 0)
        do {
            for info in source.tensors {
                guard let parts = replacements[info.name] else {
                    try writer.addRawTensor(name: info.name, dimensions: info.dimensions, type: info.type, data: source.rawData(for: info))
                    report.copiedTensorCount += 1
                    continue
                }
                let needsBase = requantize != nil || parts.contains { $0.part != nil }
                let base = needsBase ? try source.floats(for: info) : nil
                var values = base ?? []
                try apply(parts, to: &values, shape: info.shape, name: info.name)
                if configuration.architecture == .llama, GGUFWeights.storesInterleavedRotaryRows(source),
                   let heads = rotaryHeads(info.name, configuration), info.shape.count == 2 {
                    // Overrides come in rotate-half order; llama.cpp stores interleaved pairs.
                    values = permuteRotaryRows(values, rows: info.shape[0], cols: info.shape[1], heads: heads)
                }
                if let requantize, let base {
                    let (data, effect) = try quantized(values, base: base, type: requantize, info: info, file: url.path)
                    try writer.addRawTensor(name: info.name, dimensions: info.dimensions, type: requantize, data: data)
                    report.replacedTensors.append(ExportedTensor(name: info.name, type: requantize, requantization: effect))
                } else {
                    try writer.addRawTensor(name: info.name, dimensions: info.dimensions, type: precision.ggmlType,
                                            data: encode(values, precision))
                    report.replacedTensors.append(ExportedTensor(name: info.name, type: precision.ggmlType, requantization: nil))
                }
            }
            try writer.write(to: url)
        } catch let error as CheckpointError {
            throw ModelError.checkpoint(error.description)
        }
        return report
    }

    // MARK: - Overrides in stored layout

    /// A replacement for a stored tensor: the whole tensor (`part` nil) or one third of a fused one.
    struct Replacement {
        var part: Int?
        var matrix: Matrix<Float>
    }

    /// Overrides grouped by the stored tensor they replace: canonical names as they are, GPT-2's
    /// `attn_q/k/v` as parts of the fused `attn_qkv` when the file stores that.
    static func storedReplacements(_ overrides: [String: Matrix<Float>], architecture: Architecture,
                                   exists: (String) -> Bool) throws -> [String: [Replacement]] {
        var out: [String: [Replacement]] = [:]
        for (name, matrix) in overrides.sorted(by: { $0.key < $1.key }) {
            if exists(name) {
                out[name, default: []].append(Replacement(part: nil, matrix: matrix))
            } else if architecture == .gpt2, let fused = fusedSource(of: name), exists(fused.fused) {
                out[fused.fused, default: []].append(Replacement(part: fused.part, matrix: matrix))
            } else {
                throw ModelError.missingTensor(name)
            }
        }
        return out
    }

    /// Writes the replacements into `values` (row-major `shape`); `values` may be empty when the
    /// only replacement is the whole tensor.
    static func apply(_ replacements: [Replacement], to values: inout [Float], shape: [Int], name: String) throws {
        let count = shape.reduce(1, *)
        let rows = shape.first ?? 1
        let cols = shape.count == 2 ? shape[1] : 1
        for replacement in replacements {
            let m = replacement.matrix
            if let part = replacement.part {
                let partRows = rows / 3
                guard rows % 3 == 0, m.values.count == partRows * cols, shape.count == 1 || (m.rows == partRows && m.cols == cols) else {
                    throw ModelError.tensorShape(name + " part \(part)", expected: shape.count == 2 ? [partRows, cols] : [partRows], actual: [m.rows, m.cols])
                }
                if values.count != count { values = [Float](repeating: 0, count: count) }
                values.replaceSubrange(part * partRows * cols ..< (part + 1) * partRows * cols, with: m.values)
            } else {
                guard m.values.count == count, shape.count != 2 || (m.rows == rows && m.cols == cols) else {
                    throw ModelError.tensorShape(name, expected: shape, actual: [m.rows, m.cols])
                }
                values = m.values
            }
        }
    }

    /// The head count whose Q/K rows llama.cpp interleaves, for `attn_q`/`attn_k` weights and biases.
    static func rotaryHeads(_ name: String, _ configuration: ModelConfiguration) -> Int? {
        if name.contains(".attn_q.") { return configuration.headCount }
        if name.contains(".attn_k.") { return configuration.keyValueHeadCount }
        return nil
    }

    /// The inverse of `unpermuteRotaryRows`: rotate-half row order back to llama.cpp's
    /// interleaved pairs, head by head (row j·HS/2 + i of a head becomes row 2i + j).
    static func permuteRotaryRows(_ values: [Float], rows: Int, cols: Int, heads: Int) -> [Float] {
        let HS = rows / heads, half = HS / 2
        var out = [Float](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for h in 0..<heads {
                    for i in 0..<half {
                        for j in 0..<2 {
                            let source = (h * HS + j * half + i) * cols
                            let target = (h * HS + 2 * i + j) * cols
                            for c in 0..<cols { dst[target + c] = src[source + c] }
                        }
                    }
                }
            }
        }
        return out
    }

    // MARK: - Encoding

    /// Little-endian F32, F16 or BF16 bytes (half types rounded to nearest even).
    static func encode(_ values: [Float], _ precision: ExportPrecision) -> Data {
        let width = precision == .f32 ? 4 : 2
        var data = Data(count: values.count * width)
        data.withUnsafeMutableBytes { out in
            values.withUnsafeBufferPointer { v in
                switch precision {
                case .f32:
                    for i in 0..<v.count { out.storeBytes(of: v[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
                case .f16:
                    for i in 0..<v.count { out.storeBytes(of: HalfPrecision.halfFromFloat(v[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                case .bf16:
                    for i in 0..<v.count { out.storeBytes(of: HalfPrecision.bfloat16FromFloat(v[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                }
            }
        }
        return data
    }

    /// `values` quantized to `type`, and the effect measured against `base` (both in stored layout).
    static func quantized(_ values: [Float], base: [Float], type: GGMLType, info: GGUFTensorInfo,
                          file: String) throws -> (Data, RequantizationEffect) {
        guard let first = info.dimensions.first, first % type.blockSize == 0,
              let byteCount = type.byteCount(elementCount: values.count) else {
            throw ModelError.unsupportedFeature(file: file, feature: "re-quantizing '\(info.name)' to \(type.name): rows of \(info.dimensions.first ?? 0) values are not whole blocks of \(type.blockSize)")
        }
        var data = Data(count: byteCount)
        var restored = [Float](repeating: 0, count: values.count)
        data.withUnsafeMutableBytes { out in
            values.withUnsafeBufferPointer { src in
                Quantization.quantize(type, src, into: out)
            }
            restored.withUnsafeMutableBufferPointer { dst in
                Dequantization.dequantize(type, UnsafeRawBufferPointer(out), into: dst)
            }
        }
        var errorSquared = 0.0, mergedSquared = 0.0, deltaSquared = 0.0, inner = 0.0, deltaErrorSquared = 0.0
        for i in 0..<values.count {
            let merged = Double(values[i]), q = Double(restored[i]), b = Double(base[i])
            let delta = merged - b, carried = q - b
            errorSquared += (q - merged) * (q - merged)
            mergedSquared += merged * merged
            deltaSquared += delta * delta
            inner += carried * delta
            deltaErrorSquared += (carried - delta) * (carried - delta)
        }
        let effect = RequantizationEffect(
            relativeError: mergedSquared > 0 ? (errorSquared / mergedSquared).squareRoot() : 0,
            deltaRetained: deltaSquared > 0 ? inner / deltaSquared : 1,
            deltaRelativeError: deltaSquared > 0 ? (deltaErrorSquared / deltaSquared).squareRoot() : 0,
            deltaNorm: deltaSquared.squareRoot())
        return (data, effect)
    }
}
