// Writes safetensors files with the reference writer's layout: tensors sorted by dtype alignment
// (largest first) then name, the JSON header padded with spaces to a multiple of 8, data packed
// with no gaps. Converts Float32 input to F32, F16 or BF16 only.

import Foundation
import Tensors

/// Builds a safetensors file and writes it atomically.
public struct SafetensorsWriter {
    private struct PendingTensor {
        var name: String
        var dtype: SafetensorsDType
        var shape: [Int]
        var data: Data
    }

    private let metadata: [String: String]
    private var pending: [PendingTensor] = []
    private var names = Set<String>()

    /// - Parameter metadata: written as `__metadata__` (omitted when empty).
    public init(metadata: [String: String] = [:]) {
        self.metadata = metadata
    }

    /// Adds a tensor converted from Float32 (F16/BF16 rounded to nearest even).
    /// - Parameter shape: row-major shape; empty for a scalar.
    /// - Throws: `CheckpointError.invalidArgument` for another dtype, a count that does not match
    ///   the shape, or a duplicate or reserved name.
    public mutating func addTensor(name: String, shape: [Int], floats: [Float], dtype: SafetensorsDType) throws {
        guard dtype == .f32 || dtype == .f16 || dtype == .bf16 else {
            throw CheckpointError.invalidArgument(file: nil, reason: "tensor '\(name)': SafetensorsWriter converts floats to F32, F16 or BF16 only, not \(dtype.rawValue)")
        }
        guard name != "__metadata__", !names.contains(name) else {
            throw CheckpointError.invalidArgument(file: nil, reason: "tensor name '\(name)' is reserved or already used")
        }
        guard let count = CheckedArithmetic.product(shape), count == floats.count else {
            throw CheckpointError.invalidArgument(file: nil, reason: "tensor '\(name)': shape \(shape) does not match \(floats.count) values")
        }
        var data = Data(count: count * dtype.byteSize)
        data.withUnsafeMutableBytes { out in
            floats.withUnsafeBufferPointer { values in
                switch dtype {
                case .f32:
                    for i in 0 ..< count { out.storeBytes(of: values[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
                case .f16:
                    for i in 0 ..< count { out.storeBytes(of: HalfPrecision.halfFromFloat(values[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                default:
                    for i in 0 ..< count { out.storeBytes(of: HalfPrecision.bfloat16FromFloat(values[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                }
            }
        }
        names.insert(name)
        pending.append(PendingTensor(name: name, dtype: dtype, shape: shape, data: data))
    }

    /// Writes the file atomically (a temporary file beside `url`, then a rename).
    /// - Throws: `CheckpointError.io` for file-system failures.
    public func write(to url: URL) throws {
        let ordered = pending.sorted { a, b in
            a.dtype.byteSize != b.dtype.byteSize ? a.dtype.byteSize > b.dtype.byteSize : a.name < b.name
        }
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(HeaderJSONWriter.quoted($0)):\(HeaderJSONWriter.quoted(metadata[$0] ?? ""))" }
            entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
        }
        var offset = 0
        for tensor in ordered {
            let shape = tensor.shape.map(String.init).joined(separator: ",")
            entries.append("\(HeaderJSONWriter.quoted(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + tensor.data.count)]}")
            offset += tensor.data.count
        }
        var header = Array("{\(entries.joined(separator: ","))}".utf8)
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))
        var prefix = ByteBuffer()
        prefix.append(UInt64(header.count))
        prefix.bytes.append(contentsOf: header)

        var output = try AtomicFileWriter(destination: url)
        do {
            try output.write(prefix.bytes)
            for tensor in ordered { try output.write(tensor.data) }
            try output.commit()
        } catch {
            output.abandon()
            throw error
        }
    }
}
