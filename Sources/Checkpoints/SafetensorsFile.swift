// A safetensors checkpoint opened for reading: memory-mapped, the header validated with the rules
// of the reference Rust reader (contiguous offsets from 0, sizes matching shapes, buffer ending at
// EOF, no duplicate keys), and F32/F16/BF16/F64 tensors converted to Float32 on request.

import Foundation
import Tensors

/// A safetensors element type.
public enum SafetensorsDType: String, Sendable, CaseIterable {
    case bool = "BOOL", u8 = "U8", i8 = "I8", i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
    case i32 = "I32", u32 = "U32", f32 = "F32", f64 = "F64", i64 = "I64", u64 = "U64"
    case f8e5m2 = "F8_E5M2", f8e4m3 = "F8_E4M3"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .bool, .u8, .i8, .f8e5m2, .f8e4m3: return 1
        case .i16, .u16, .f16, .bf16: return 2
        case .i32, .u32, .f32: return 4
        case .f64, .i64, .u64: return 8
        }
    }
}

/// The description of one tensor in a safetensors file.
public struct SafetensorsTensorInfo: Sendable, Equatable {
    public let name: String
    public let dtype: SafetensorsDType
    /// Row-major shape; empty for a scalar.
    public let shape: [Int]
    /// Byte range relative to the start of the byte buffer (after the header).
    public let dataRange: Range<Int>

    /// The number of elements (1 for a scalar).
    public var elementCount: Int { shape.reduce(1, *) }
}

/// A memory-mapped safetensors file.
public final class SafetensorsFile: @unchecked Sendable {
    static let maximumHeaderSize = 100_000_000

    /// The file read.
    public let url: URL
    /// The `__metadata__` string map (empty when absent).
    public let metadata: [String: String]
    /// All tensors, sorted by data offset.
    public let tensors: [SafetensorsTensorInfo]
    /// Absolute byte offset of the byte buffer (8 + header size).
    public let bufferOffset: Int

    private let data: Data
    private let tensorIndex: [String: Int]

    /// Maps and validates the file.
    /// - Throws: `CheckpointError` naming the file and what is wrong, with the byte offset.
    public init(contentsOf url: URL) throws {
        let file = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw CheckpointError.io(file: file, reason: "cannot read: \(error.localizedDescription)")
        }
        let (metadata, tensors, bufferOffset) = try data.withUnsafeBytes { try Self.parse($0, file: file) }
        self.url = url
        self.data = data
        self.metadata = metadata
        self.tensors = tensors
        self.bufferOffset = bufferOffset
        var index: [String: Int] = [:]
        for (i, tensor) in tensors.enumerated() { index[tensor.name] = i }
        tensorIndex = index
    }

    private static func parse(_ bytes: UnsafeRawBufferPointer, file: String)
        throws -> ([String: String], [SafetensorsTensorInfo], Int) {
        var reader = ByteReader(bytes: bytes, file: file)
        let size64 = try reader.read(UInt64.self, "header size")
        guard size64 <= UInt64(maximumHeaderSize) else {
            throw CheckpointError.malformed(file: file, offset: 0, reason: "header size \(size64) exceeds the limit of \(maximumHeaderSize) bytes")
        }
        let headerSize = Int(size64)
        guard headerSize <= reader.remaining else {
            throw CheckpointError.malformed(file: file, offset: 0,
                reason: "header size \(headerSize) is larger than the \(reader.remaining) bytes after the size field")
        }
        let headerBytes = try reader.readBytes(headerSize, "header")
        var parser = HeaderJSONParser(bytes: headerBytes, file: file, baseOffset: 8)
        guard case let .object(members) = try parser.parseDocument() else {
            throw CheckpointError.malformed(file: file, offset: 8, reason: "header JSON is not an object")
        }
        let bufferOffset = 8 + headerSize
        let bufferSize = bytes.count - bufferOffset

        var metadata: [String: String] = [:]
        var tensors: [SafetensorsTensorInfo] = []
        for (name, value) in members {
            if name == "__metadata__" {
                guard case let .object(pairs) = value else {
                    throw CheckpointError.malformed(file: file, offset: 8, reason: "'__metadata__' must be an object of strings")
                }
                for (key, item) in pairs {
                    guard case let .string(text) = item else {
                        throw CheckpointError.malformed(file: file, offset: 8,
                            reason: "'__metadata__' value of '\(key)' is \(item.kind), not a string")
                    }
                    metadata[key] = text
                }
                continue
            }
            tensors.append(try tensorInfo(name: name, value: value, file: file))
        }

        // The reference reader sorts by offsets and requires the ranges to tile the buffer exactly.
        tensors.sort { ($0.dataRange.lowerBound, $0.dataRange.upperBound, $0.name) < ($1.dataRange.lowerBound, $1.dataRange.upperBound, $1.name) }
        var expected = 0
        for tensor in tensors {
            guard tensor.dataRange.lowerBound == expected else {
                let problem = tensor.dataRange.lowerBound < expected ? "overlaps the previous tensor" : "leaves a gap after the previous tensor"
                throw CheckpointError.invalidTensor(file: file, tensor: tensor.name,
                    reason: "data_offsets begin \(tensor.dataRange.lowerBound) \(problem) (expected \(expected))")
            }
            expected = tensor.dataRange.upperBound
        }
        if let last = tensors.last, last.dataRange.upperBound > bufferSize {
            // Offsets near Int.max are legal JSON: the absolute position may not be representable.
            let start = CheckedArithmetic.add(bufferOffset, last.dataRange.lowerBound).map { "byte offset \($0)" }
                ?? "buffer offset \(last.dataRange.lowerBound)"
            throw CheckpointError.invalidTensor(file: file, tensor: last.name,
                reason: "data at \(start) runs past the end of the file (buffer \(bufferSize) bytes, needs \(last.dataRange.upperBound))")
        }
        guard expected == bufferSize else {
            throw CheckpointError.malformed(file: file, offset: bufferOffset + expected,
                reason: "byte buffer is \(bufferSize) bytes but the tensors cover \(expected)")
        }
        return (metadata, tensors, bufferOffset)
    }

    private static func integer(_ value: HeaderJSON) -> Int? {
        guard case let .number(text) = value, !text.isEmpty, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(text)
    }

    private static func tensorInfo(name: String, value: HeaderJSON, file: String) throws -> SafetensorsTensorInfo {
        func invalid(_ reason: String) -> CheckpointError {
            .invalidTensor(file: file, tensor: name, reason: reason)
        }
        guard case let .object(fields) = value else { throw invalid("header entry is \(value.kind), not an object") }
        var dtypeValue: HeaderJSON?, shapeValue: HeaderJSON?, offsetsValue: HeaderJSON?
        for (key, field) in fields {
            switch key {
            case "dtype": dtypeValue = field
            case "shape": shapeValue = field
            case "data_offsets": offsetsValue = field
            default: break
            }
        }
        guard case let .string(dtypeName)? = dtypeValue else { throw invalid("missing or non-string 'dtype'") }
        guard let dtype = SafetensorsDType(rawValue: dtypeName) else { throw invalid("unknown dtype '\(dtypeName)'") }
        guard case let .array(shapeItems)? = shapeValue else { throw invalid("missing or non-array 'shape'") }
        var shape: [Int] = []
        for item in shapeItems {
            guard let dim = integer(item) else { throw invalid("shape entries must be non-negative integers") }
            shape.append(dim)
        }
        guard case let .array(offsetItems)? = offsetsValue, offsetItems.count == 2,
              let begin = integer(offsetItems[0]), let end = integer(offsetItems[1]) else {
            throw invalid("'data_offsets' must be two non-negative integers")
        }
        guard begin <= end else { throw invalid("data_offsets [\(begin), \(end)] end before they begin") }
        guard let count = CheckedArithmetic.product(shape), let bytes = CheckedArithmetic.multiply(count, dtype.byteSize) else {
            throw invalid("element count of shape \(shape) overflows")
        }
        guard end - begin == bytes else {
            throw invalid("data_offsets [\(begin), \(end)] hold \(end - begin) bytes but \(dtypeName) \(shape) needs \(bytes)")
        }
        return SafetensorsTensorInfo(name: name, dtype: dtype, shape: shape, dataRange: begin ..< end)
    }

    /// The tensor named `name`, if any.
    public func tensor(named name: String) -> SafetensorsTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    private func byteRange(of tensor: SafetensorsTensorInfo) -> Range<Int>? {
        guard let index = tensorIndex[tensor.name], tensors[index] == tensor else { return nil }
        return bufferOffset + tensor.dataRange.lowerBound ..< bufferOffset + tensor.dataRange.upperBound
    }

    /// The tensor's stored bytes: a slice of the mapping (no copy); its indices start at
    /// `startIndex`, not 0.
    ///
    /// - Precondition: `tensor` comes from this file.
    public func rawData(for tensor: SafetensorsTensorInfo) -> Data {
        guard let range = byteRange(of: tensor) else {
            preconditionFailure("\(url.path): tensor '\(tensor.name)' is not one of this file's tensors")
        }
        return data[range]
    }

    /// The tensor's values as Float32, row-major (F32, F16, BF16 and F64 are converted).
    /// - Throws: `CheckpointError.unsupportedType` for other dtypes, `.tensorNotFound` if the
    ///   tensor is not one of this file's.
    public func floats(for tensor: SafetensorsTensorInfo) throws -> [Float] {
        guard let range = byteRange(of: tensor) else {
            throw CheckpointError.tensorNotFound(file: url.path, tensor: tensor.name)
        }
        let type: GGMLType
        switch tensor.dtype {
        case .f32: type = .f32
        case .f16: type = .f16
        case .bf16: type = .bf16
        case .f64: type = .f64
        default:
            throw CheckpointError.unsupportedType(file: url.path, tensor: tensor.name, type: tensor.dtype.rawValue)
        }
        let count = tensor.elementCount
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            _ = data.withUnsafeBytes { raw in
                Dequantization.dequantize(type, UnsafeRawBufferPointer(rebasing: raw[range]), into: buffer)
            }
            initialized = count
        }
    }

    /// The values of the tensor named `name` as Float32, row-major.
    /// - Throws: `CheckpointError.tensorNotFound` or `.unsupportedType`.
    public func floats(named name: String) throws -> [Float] {
        guard let tensor = tensor(named: name) else {
            throw CheckpointError.tensorNotFound(file: url.path, tensor: name)
        }
        return try floats(for: tensor)
    }
}
