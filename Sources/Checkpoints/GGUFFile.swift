// A GGUF checkpoint opened for reading: memory-mapped, its whole structure validated before any use
// (see GGUFParser), with tensor bytes served as slices of the mapping and converted to Float32 on
// request. It knows nothing of model architectures or tensor naming.

import Foundation

/// The description of one tensor stored in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
    /// The tensor name (shorter than 64 bytes).
    public let name: String
    /// Dimensions in ggml order: `dimensions[0]` is the contiguous (fastest) axis.
    public let dimensions: [Int]
    /// The element type.
    public let type: GGMLType
    /// Byte offset of the data relative to the data section start (`GGUFFile.dataOffset`).
    public let offset: Int
    /// Bytes of stored (possibly quantized) data.
    public let byteCount: Int

    /// The row-major (NumPy/PyTorch) shape: `dimensions` reversed.
    public var shape: [Int] { dimensions.reversed() }

    /// The number of elements.
    public var elementCount: Int { dimensions.reduce(1, *) }
}

/// A memory-mapped GGUF file (versions 2 and 3).
public final class GGUFFile: @unchecked Sendable {
    /// The file read.
    public let url: URL
    /// The format version (2 or 3).
    public let version: UInt32
    /// The data alignment (`general.alignment`, 32 when absent).
    public let alignment: Int
    /// Absolute byte offset of the tensor data section.
    public let dataOffset: Int
    /// All metadata, in file order.
    public let metadata: [GGUFMetadataEntry]
    /// All tensor descriptions, in file order.
    public let tensors: [GGUFTensorInfo]

    /// The mapped file; immutable, so sharing it across threads is safe.
    private let data: Data
    private let metadataIndex: [String: Int]
    private let tensorIndex: [String: Int]

    /// Maps and validates the file: header, every metadata value, every tensor description, the
    /// alignment and the placement of every tensor's data.
    /// - Throws: `CheckpointError` naming the file and what is wrong, with the byte offset.
    public init(contentsOf url: URL) throws {
        let file = url.path
        let data: Data
        do {
            data = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw CheckpointError.io(file: file, reason: "cannot read: \(error.localizedDescription)")
        }
        let layout = try data.withUnsafeBytes { try GGUFParser.parse($0, file: file) }
        self.url = url
        self.data = data
        self.version = layout.version
        self.alignment = layout.alignment
        self.dataOffset = layout.dataOffset
        self.metadata = layout.metadata
        self.tensors = layout.tensors
        var metadataIndex: [String: Int] = [:]
        for (i, entry) in layout.metadata.enumerated() { metadataIndex[entry.key] = i }
        var tensorIndex: [String: Int] = [:]
        for (i, tensor) in layout.tensors.enumerated() { tensorIndex[tensor.name] = i }
        self.metadataIndex = metadataIndex
        self.tensorIndex = tensorIndex
    }

    /// The value stored under `key`, if any.
    public func value(forKey key: String) -> GGUFValue? {
        metadataIndex[key].map { metadata[$0].value }
    }

    /// The tensor named `name`, if any.
    public func tensor(named name: String) -> GGUFTensorInfo? {
        tensorIndex[name].map { tensors[$0] }
    }

    /// The absolute byte range of a tensor of this file, or nil if it is not one of this file's.
    private func byteRange(of tensor: GGUFTensorInfo) -> Range<Int>? {
        guard let index = tensorIndex[tensor.name], tensors[index] == tensor else { return nil }
        let start = dataOffset + tensor.offset
        return start ..< start + tensor.byteCount
    }

    /// The tensor's stored bytes: a slice of the mapping (no copy). Like every `Data` slice, its
    /// indices start at `startIndex`, not 0; read it with `withUnsafeBytes`.
    ///
    /// - Precondition: `tensor` comes from this file.
    public func rawData(for tensor: GGUFTensorInfo) -> Data {
        guard let range = byteRange(of: tensor) else {
            preconditionFailure("\(url.path): tensor '\(tensor.name)' is not one of this file's tensors")
        }
        return data[range]
    }

    /// The tensor's values as Float32 in row-major order (dequantized if needed).
    /// - Throws: `CheckpointError.unsupportedType` for types without a kernel here,
    ///   `.tensorNotFound` if the tensor is not one of this file's.
    public func floats(for tensor: GGUFTensorInfo) throws -> [Float] {
        guard let range = byteRange(of: tensor) else {
            throw CheckpointError.tensorNotFound(file: url.path, tensor: tensor.name)
        }
        guard tensor.type.canDequantize else {
            throw CheckpointError.unsupportedType(file: url.path, tensor: tensor.name, type: tensor.type.name)
        }
        let count = tensor.elementCount
        return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            data.withUnsafeBytes { raw in
                let source = UnsafeRawBufferPointer(rebasing: raw[range])
                Dequantization.dequantizeInParallel(tensor.type, source, into: buffer)
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
