// Parses and validates the structure of a GGUF file (header, metadata, tensor descriptions, data
// placement) as ggml's gguf.cpp does, before any tensor data is touched. It never reads tensor
// data and never converts values; it only produces the layout GGUFFile serves from.

/// The validated layout of a GGUF file.
struct GGUFLayout {
    var version: UInt32
    var alignment: Int
    var dataOffset: Int
    var metadata: [GGUFMetadataEntry]
    var tensors: [GGUFTensorInfo]
}

enum GGUFParser {
    static let magic: UInt32 = 0x4655_4747  // "GGUF" read as a little-endian u32
    static let maximumStringLength = 1 << 30
    static let maximumNameLength = 64  // ggml's GGML_MAX_NAME: names must be shorter
    static let maximumDimensions = 4
    static let maximumArrayDepth = 16
    static let defaultAlignment = 32

    static func parse(_ bytes: UnsafeRawBufferPointer, file: String) throws -> GGUFLayout {
        var reader = ByteReader(bytes: bytes, file: file)
        try reader.require(4, for: "magic")
        let found = try reader.read(UInt32.self, "magic")
        guard found == magic else {
            let shown = withUnsafeBytes(of: found.littleEndian) { $0.map { hexByte($0) }.joined(separator: " ") }
            throw CheckpointError.badMagic(file: file, found: "\(shown) (expected 47 47 55 46, \"GGUF\")")
        }
        let version = try reader.read(UInt32.self, "version")
        guard version == 2 || version == 3 else {
            throw CheckpointError.unsupportedVersion(file: file, version: version)
        }
        let tensorCountOffset = reader.offset
        let tensorCount64 = try reader.read(UInt64.self, "tensor count")
        let metadataCountOffset = reader.offset
        let metadataCount64 = try reader.read(UInt64.self, "metadata count")
        // Each metadata pair takes at least 8 + 4 + 1 bytes and each tensor description 8 + 4 + 4 + 8.
        guard metadataCount64 <= UInt64(reader.remaining / 13) else {
            throw CheckpointError.malformed(file: file, offset: metadataCountOffset,
                reason: "metadata count \(metadataCount64) cannot fit in the \(reader.remaining) bytes left")
        }
        guard tensorCount64 <= UInt64(reader.remaining / 24) else {
            throw CheckpointError.malformed(file: file, offset: tensorCountOffset,
                reason: "tensor count \(tensorCount64) cannot fit in the \(reader.remaining) bytes left")
        }

        var metadata: [GGUFMetadataEntry] = []
        metadata.reserveCapacity(Int(metadataCount64))
        var seenKeys = Set<String>()
        var alignment = defaultAlignment
        for _ in 0 ..< Int(metadataCount64) {
            let keyOffset = reader.offset
            let key = try readString(&reader, field: "metadata key")
            guard !key.isEmpty else {
                throw CheckpointError.malformed(file: file, offset: keyOffset, reason: "empty metadata key")
            }
            guard seenKeys.insert(key).inserted else {
                throw CheckpointError.malformed(file: file, offset: keyOffset, reason: "duplicate metadata key '\(key)'")
            }
            let typeOffset = reader.offset
            let type = try readValueType(&reader, key: key)
            let value = try readValue(&reader, type: type, key: key, depth: 0)
            if key == "general.alignment" {
                guard case let .uint32(a) = value else {
                    throw CheckpointError.malformed(file: file, offset: typeOffset,
                        reason: "key 'general.alignment' must be UINT32, found \(type.name)")
                }
                guard a > 0, a & (a - 1) == 0 else {
                    throw CheckpointError.malformed(file: file, offset: typeOffset + 4,
                        reason: "key 'general.alignment' is \(a), not a non-zero power of two")
                }
                alignment = Int(a)
            }
            metadata.append(GGUFMetadataEntry(key: key, value: value))
        }

        var tensors: [GGUFTensorInfo] = []
        tensors.reserveCapacity(Int(tensorCount64))
        var offsetFields: [Int] = []
        var seenNames = Set<String>()
        for _ in 0 ..< Int(tensorCount64) {
            let nameOffset = reader.offset
            let name = try readString(&reader, field: "tensor name")
            guard name.utf8.count < maximumNameLength else {
                throw CheckpointError.malformed(file: file, offset: nameOffset,
                    reason: "tensor name '\(name)' is \(name.utf8.count) bytes; it must be shorter than \(maximumNameLength)")
            }
            guard seenNames.insert(name).inserted else {
                throw CheckpointError.malformed(file: file, offset: nameOffset, reason: "duplicate tensor name '\(name)'")
            }
            let rankOffset = reader.offset
            let rank = try reader.read(UInt32.self, "tensor '\(name)' dimension count")
            guard rank >= 1, rank <= UInt32(maximumDimensions) else {
                throw CheckpointError.malformed(file: file, offset: rankOffset,
                    reason: "tensor '\(name)' has \(rank) dimensions (expected 1 to \(maximumDimensions))")
            }
            var dimensions: [Int] = []
            for axis in 0 ..< Int(rank) {
                let dimOffset = reader.offset
                let dim = try reader.read(UInt64.self, "tensor '\(name)' dimension \(axis)")
                guard let value = Int(exactly: dim), value <= Int(Int64.max) else {
                    throw CheckpointError.malformed(file: file, offset: dimOffset,
                        reason: "tensor '\(name)' dimension \(axis) is \(dim), too large")
                }
                dimensions.append(value)
            }
            guard let elementCount = CheckedArithmetic.product(dimensions) else {
                throw CheckpointError.malformed(file: file, offset: rankOffset + 4,
                    reason: "tensor '\(name)' element count of \(dimensions) overflows")
            }
            let typeOffset = reader.offset
            let rawType = try reader.read(UInt32.self, "tensor '\(name)' type")
            guard let type = GGMLType(rawValue: rawType) else {
                throw CheckpointError.malformed(file: file, offset: typeOffset,
                    reason: "tensor '\(name)' has unknown ggml type \(rawType)")
            }
            guard dimensions[0] % type.blockSize == 0, let byteCount = type.byteCount(elementCount: elementCount) else {
                throw CheckpointError.malformed(file: file, offset: typeOffset,
                    reason: "tensor '\(name)': dimension 0 (\(dimensions[0])) is not a multiple of the \(type.name) block size \(type.blockSize)")
            }
            let offsetField = reader.offset
            let offset64 = try reader.read(UInt64.self, "tensor '\(name)' data offset")
            guard let offset = Int(exactly: offset64) else {
                throw CheckpointError.malformed(file: file, offset: offsetField,
                    reason: "tensor '\(name)' data offset \(offset64) is too large")
            }
            tensors.append(GGUFTensorInfo(name: name, dimensions: dimensions, type: type, offset: offset, byteCount: byteCount))
            offsetFields.append(offsetField)
        }

        guard let dataOffset = CheckedArithmetic.align(reader.offset, to: alignment) else {
            throw CheckpointError.malformed(file: file, offset: reader.offset, reason: "data section offset overflows")
        }
        // Tensors must be packed in order, each starting at the aligned end of the previous one.
        var expected = 0
        for (tensor, field) in zip(tensors, offsetFields) {
            guard tensor.offset % alignment == 0 else {
                throw CheckpointError.malformed(file: file, offset: field,
                    reason: "tensor '\(tensor.name)' data offset \(tensor.offset) is not a multiple of the alignment \(alignment)")
            }
            guard tensor.offset == expected else {
                let problem = tensor.offset < expected ? "overlaps the previous tensor" : "leaves a gap after the previous tensor"
                throw CheckpointError.malformed(file: file, offset: field,
                    reason: "tensor '\(tensor.name)' data offset \(tensor.offset) \(problem) (expected \(expected))")
            }
            guard let start = CheckedArithmetic.add(dataOffset, tensor.offset),
                  let end = CheckedArithmetic.add(start, tensor.byteCount), end <= bytes.count else {
                throw CheckpointError.invalidTensor(file: file, tensor: tensor.name,
                    reason: "data at byte offset \(dataOffset + tensor.offset) needs \(tensor.byteCount) bytes and runs past the end of the file (\(bytes.count) bytes)")
            }
            guard let next = CheckedArithmetic.add(tensor.offset, tensor.byteCount),
                  let aligned = CheckedArithmetic.align(next, to: alignment) else {
                throw CheckpointError.malformed(file: file, offset: field, reason: "tensor '\(tensor.name)' data size overflows")
            }
            expected = aligned
        }
        return GGUFLayout(version: version, alignment: alignment, dataOffset: dataOffset, metadata: metadata, tensors: tensors)
    }

    static func readValueType(_ reader: inout ByteReader, key: String) throws -> GGUFValueType {
        let offset = reader.offset
        let raw = try reader.read(UInt32.self, "type of key '\(key)'")
        guard let type = GGUFValueType(rawValue: raw) else {
            throw CheckpointError.malformed(file: reader.file, offset: offset, reason: "key '\(key)' has unknown value type \(raw)")
        }
        return type
    }

    /// A length-prefixed UTF-8 string (no terminator).
    static func readString(_ reader: inout ByteReader, field: String) throws -> String {
        let offset = reader.offset
        let length64 = try reader.read(UInt64.self, "\(field) length")
        guard length64 <= UInt64(maximumStringLength) else {
            throw CheckpointError.malformed(file: reader.file, offset: offset, reason: "\(field) length \(length64) exceeds 1 GiB")
        }
        let bytes = try reader.readBytes(Int(length64), field)
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw CheckpointError.malformed(file: reader.file, offset: offset + 8, reason: "\(field) is not valid UTF-8")
        }
        return string
    }

    static func readValue(_ reader: inout ByteReader, type: GGUFValueType, key: String, depth: Int) throws -> GGUFValue {
        let field = "value of key '\(key)'"
        switch type {
        case .uint8: return .uint8(try reader.read(UInt8.self, field))
        case .int8: return .int8(try reader.read(Int8.self, field))
        case .uint16: return .uint16(try reader.read(UInt16.self, field))
        case .int16: return .int16(try reader.read(Int16.self, field))
        case .uint32: return .uint32(try reader.read(UInt32.self, field))
        case .int32: return .int32(try reader.read(Int32.self, field))
        case .uint64: return .uint64(try reader.read(UInt64.self, field))
        case .int64: return .int64(try reader.read(Int64.self, field))
        case .float32: return .float32(try reader.readFloat(field))
        case .float64: return .float64(try reader.readDouble(field))
        case .bool:
            let offset = reader.offset
            let byte = try reader.read(UInt8.self, field)
            guard byte <= 1 else {
                throw CheckpointError.malformed(file: reader.file, offset: offset, reason: "bool \(field) is \(byte), not 0 or 1")
            }
            return .bool(byte == 1)
        case .string:
            return .string(try readString(&reader, field: field))
        case .array:
            guard depth < maximumArrayDepth else {
                throw CheckpointError.malformed(file: reader.file, offset: reader.offset,
                    reason: "arrays of key '\(key)' are nested more than \(maximumArrayDepth) deep")
            }
            let elementType = try readValueType(&reader, key: key)
            let countOffset = reader.offset
            let count64 = try reader.read(UInt64.self, "element count of key '\(key)'")
            guard count64 <= UInt64(reader.remaining / elementType.minimumSize) else {
                throw CheckpointError.malformed(file: reader.file, offset: countOffset,
                    reason: "array key '\(key)' claims \(count64) \(elementType.name) elements, more than the \(reader.remaining) bytes left can hold")
            }
            let count = Int(count64)
            var elements: [GGUFValue] = []
            elements.reserveCapacity(count)
            for _ in 0 ..< count {
                elements.append(try readValue(&reader, type: elementType, key: key, depth: depth + 1))
            }
            return .array(elementType, elements)
        }
    }
}

/// Two lower-case hex digits, for messages.
func hexByte(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 15)]])
}
