// Writes GGUF version 3 files: metadata in the order added, then tensor descriptions and data in
// the order added, each tensor packed at the next multiple of the alignment, as ggml requires.
// Converts only Float32 input (to F32 or F16); everything else is copied byte for byte.

import Foundation
import Tensors

/// Builds a GGUF file in memory-light form (raw tensor data may be slices of a mapped file) and
/// streams it to disk.
public struct GGUFWriter {
    private struct PendingTensor {
        var name: String
        var dimensions: [Int]
        var type: GGMLType
        var data: Data
    }

    private var metadata: [GGUFMetadataEntry] = []
    private var metadataIndex: [String: Int] = [:]
    private var pending: [PendingTensor] = []
    private var tensorNames = Set<String>()
    private var alignment: Int

    /// - Parameter alignment: a non-zero power of two; unless 32 (the default readers assume) or
    ///   given as metadata, it is written as `general.alignment` before the other keys.
    public init(alignment: Int = 32) {
        precondition(alignment > 0 && alignment & (alignment - 1) == 0 && alignment <= Int(UInt32.max),
                     "GGUF alignment must be a power of two")
        self.alignment = alignment
    }

    /// Adds a key, or replaces the value of an existing key in place. Setting
    /// `general.alignment` to a power-of-two `.uint32` changes the alignment used.
    public mutating func addMetadata(_ key: String, _ value: GGUFValue) {
        if key == "general.alignment", case let .uint32(a) = value, a > 0, a & (a - 1) == 0 {
            alignment = Int(a)
        }
        if let index = metadataIndex[key] {
            metadata[index] = GGUFMetadataEntry(key: key, value: value)
        } else {
            metadataIndex[key] = metadata.count
            metadata.append(GGUFMetadataEntry(key: key, value: value))
        }
    }

    /// Adds a Float32 tensor, stored as F32 or F16 (rounded to nearest even).
    /// - Parameter shape: row-major shape (the GGUF dimensions are its reverse); empty for a scalar.
    /// - Throws: `CheckpointError.invalidArgument` for another type, a count that does not match the
    ///   shape, a duplicate or over-long name.
    public mutating func addTensor(name: String, shape: [Int], floats: [Float], type: GGMLType) throws {
        guard type == .f32 || type == .f16 else {
            throw CheckpointError.invalidArgument(file: nil, reason: "tensor '\(name)': GGUFWriter converts floats to F32 or F16 only, not \(type.name)")
        }
        guard let count = CheckedArithmetic.product(shape), count == floats.count else {
            throw CheckpointError.invalidArgument(file: nil, reason: "tensor '\(name)': shape \(shape) does not match \(floats.count) values")
        }
        var data = Data(count: count * type.typeSize)
        data.withUnsafeMutableBytes { out in
            floats.withUnsafeBufferPointer { values in
                if type == .f32 {
                    for i in 0 ..< count { out.storeBytes(of: values[i].bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self) }
                } else {
                    for i in 0 ..< count { out.storeBytes(of: HalfPrecision.halfFromFloat(values[i]).littleEndian, toByteOffset: 2 * i, as: UInt16.self) }
                }
            }
        }
        try addRawTensor(name: name, dimensions: shape.isEmpty ? [1] : shape.reversed(), type: type, data: data)
    }

    /// Adds a tensor whose stored bytes are copied unchanged (any type, quantized included).
    /// - Parameter dimensions: ggml order (`dimensions[0]` contiguous), 1 to 4 of them.
    /// - Throws: `CheckpointError.invalidArgument` if the byte count does not match the dimensions
    ///   and type, or the name is a duplicate or 64 bytes or longer.
    public mutating func addRawTensor(name: String, dimensions: [Int], type: GGMLType, data: Data) throws {
        guard name.utf8.count < GGUFParser.maximumNameLength else {
            throw CheckpointError.invalidArgument(file: nil, reason: "tensor name '\(name)' must be shorter than \(GGUFParser.maximumNameLength) bytes")
        }
        guard !tensorNames.contains(name) else {
            throw CheckpointError.invalidArgument(file: nil, reason: "duplicate tensor name '\(name)'")
        }
        guard (1 ... GGUFParser.maximumDimensions).contains(dimensions.count) else {
            throw CheckpointError.invalidArgument(file: nil, reason: "tensor '\(name)' has \(dimensions.count) dimensions (expected 1 to 4)")
        }
        guard let count = CheckedArithmetic.product(dimensions), dimensions[0] % type.blockSize == 0,
              let expected = type.byteCount(elementCount: count) else {
            throw CheckpointError.invalidArgument(file: nil, reason: "tensor '\(name)': dimensions \(dimensions) do not fit whole \(type.name) blocks")
        }
        guard data.count == expected else {
            throw CheckpointError.invalidArgument(file: nil, reason: "tensor '\(name)': \(data.count) bytes given, \(type.name) \(dimensions) needs \(expected)")
        }
        tensorNames.insert(name)
        pending.append(PendingTensor(name: name, dimensions: dimensions, type: type, data: data))
    }

    /// Writes the file atomically (a temporary file beside `url`, then a rename).
    /// - Throws: `CheckpointError.invalidArgument` for an unwritable value (an array whose elements
    ///   do not match its element type, a bad `general.alignment`), `.io` for file-system failures.
    public func write(to url: URL) throws {
        let file = url.path
        var metadata = metadata
        if let value = metadataIndex["general.alignment"].map({ metadata[$0].value }) {
            guard case let .uint32(a) = value, Int(a) == alignment else {
                throw CheckpointError.invalidArgument(file: file, reason: "key 'general.alignment' must be a power-of-two UINT32")
            }
        } else if alignment != GGUFParser.defaultAlignment {
            metadata.insert(GGUFMetadataEntry(key: "general.alignment", value: .uint32(UInt32(alignment))), at: 0)
        }
        if metadata.contains(where: { $0.key.isEmpty }) {
            throw CheckpointError.invalidArgument(file: file, reason: "empty metadata key")
        }
        var header = ByteBuffer()
        header.append(GGUFParser.magic)
        header.append(UInt32(3))
        header.append(UInt64(pending.count))
        header.append(UInt64(metadata.count))
        for entry in metadata {
            Self.appendString(entry.key, to: &header)
            header.append(entry.value.type.rawValue)
            try Self.append(entry.value, key: entry.key, file: file, to: &header)
        }
        var offset = 0
        for tensor in pending {
            Self.appendString(tensor.name, to: &header)
            header.append(UInt32(tensor.dimensions.count))
            for dim in tensor.dimensions { header.append(UInt64(dim)) }
            header.append(tensor.type.rawValue)
            header.append(UInt64(offset))
            offset += Self.padded(tensor.data.count, alignment)
        }
        header.bytes.append(contentsOf: repeatElement(0, count: Self.padded(header.bytes.count, alignment) - header.bytes.count))

        var output = try AtomicFileWriter(destination: url)
        do {
            try output.write(header.bytes)
            for tensor in pending {
                try output.write(tensor.data)
                try output.writeZeros(Self.padded(tensor.data.count, alignment) - tensor.data.count)
            }
            try output.commit()
        } catch {
            output.abandon()
            throw error
        }
    }

    private static func padded(_ count: Int, _ alignment: Int) -> Int {
        (count + alignment - 1) / alignment * alignment
    }

    private static func appendString(_ string: String, to buffer: inout ByteBuffer) {
        buffer.append(UInt64(string.utf8.count))
        buffer.append(string)
    }

    private static func append(_ value: GGUFValue, key: String, file: String, to buffer: inout ByteBuffer) throws {
        switch value {
        case let .uint8(v): buffer.append(v)
        case let .int8(v): buffer.append(v)
        case let .uint16(v): buffer.append(v)
        case let .int16(v): buffer.append(v)
        case let .uint32(v): buffer.append(v)
        case let .int32(v): buffer.append(v)
        case let .uint64(v): buffer.append(v)
        case let .int64(v): buffer.append(v)
        case let .float32(v): buffer.append(v.bitPattern)
        case let .float64(v): buffer.append(v.bitPattern)
        case let .bool(v): buffer.append(UInt8(v ? 1 : 0))
        case let .string(s): appendString(s, to: &buffer)
        case let .array(elementType, elements):
            buffer.append(elementType.rawValue)
            buffer.append(UInt64(elements.count))
            for element in elements {
                guard element.type == elementType else {
                    throw CheckpointError.invalidArgument(file: file,
                        reason: "key '\(key)': array of \(elementType.name) holds a \(element.type.name) element")
                }
                try append(element, key: key, file: file, to: &buffer)
            }
        }
    }
}
