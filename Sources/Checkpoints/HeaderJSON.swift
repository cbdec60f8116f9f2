// A small strict JSON reader for safetensors headers. Unlike JSONSerialization it keeps key order,
// rejects duplicate keys and keeps numbers as written (so sizes are read as exact integers), and it
// reports the byte offset of every error. It is not a general-purpose JSON library.

/// A parsed JSON value.
enum HeaderJSON: Equatable {
    case object([(key: String, value: HeaderJSON)])
    case array([HeaderJSON])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    static func == (a: HeaderJSON, b: HeaderJSON) -> Bool {
        switch (a, b) {
        case let (.object(x), .object(y)):
            return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.array(x), .array(y)): return x == y
        case let (.string(x), .string(y)): return x == y
        case let (.number(x), .number(y)): return x == y
        case let (.bool(x), .bool(y)): return x == y
        case (.null, .null): return true
        default: return false
        }
    }

    var kind: String {
        switch self {
        case .object: return "an object"
        case .array: return "an array"
        case .string: return "a string"
        case .number: return "a number"
        case .bool: return "a boolean"
        case .null: return "null"
        }
    }
}

/// Parses one JSON object from a byte buffer; `baseOffset` is added to reported offsets.
struct HeaderJSONParser {
    private var reader: ByteReader
    private let baseOffset: Int
    private static let maximumDepth = 64

    init(bytes: UnsafeRawBufferPointer, file: String, baseOffset: Int) {
        reader = ByteReader(bytes: bytes, file: file)
        self.baseOffset = baseOffset
    }

    private func fail(_ reason: String, at offset: Int? = nil) -> CheckpointError {
        .malformed(file: reader.file, offset: baseOffset + (offset ?? reader.offset), reason: "header JSON: \(reason)")
    }

    /// Parses the top-level object; only whitespace may follow it.
    mutating func parseDocument() throws -> HeaderJSON {
        guard reader.peekByte() == UInt8(ascii: "{") else {
            throw fail("must start with '{'")
        }
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard reader.remaining == 0 else { throw fail("unexpected data after the top-level object") }
        return value
    }

    private mutating func skipWhitespace() {
        while let byte = reader.peekByte(), byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
            try? reader.skip(1, "whitespace")
        }
    }

    private mutating func next() throws -> UInt8 {
        guard reader.remaining > 0 else { throw fail("unexpected end") }
        return try reader.read(UInt8.self, "JSON")
    }

    private mutating func expect(_ literal: String) throws {
        let start = reader.offset
        for byte in literal.utf8 where try next() != byte {
            throw fail("invalid literal", at: start)
        }
    }

    private mutating func parseValue(depth: Int) throws -> HeaderJSON {
        guard depth < Self.maximumDepth else { throw fail("nested too deeply") }
        skipWhitespace()
        guard let byte = reader.peekByte() else { throw fail("unexpected end") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject(depth: depth)
        case UInt8(ascii: "["): return try parseArray(depth: depth)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try expect("false"); return .bool(false)
        case UInt8(ascii: "n"): try expect("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0") ... UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw fail("unexpected character 0x\(hexByte(byte))")
        }
    }

    private mutating func parseObject(depth: Int) throws -> HeaderJSON {
        _ = try next()  // '{'
        var members: [(key: String, value: HeaderJSON)] = []
        var keys = Set<String>()
        skipWhitespace()
        if reader.peekByte() == UInt8(ascii: "}") { _ = try next(); return .object(members) }
        while true {
            skipWhitespace()
            let keyOffset = reader.offset
            guard reader.peekByte() == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let key = try parseString()
            guard keys.insert(key).inserted else { throw fail("duplicate key '\(key)'", at: keyOffset) }
            skipWhitespace()
            guard try next() == UInt8(ascii: ":") else { throw fail("expected ':' after key '\(key)'") }
            members.append((key, try parseValue(depth: depth + 1)))
            skipWhitespace()
            switch try next() {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "}"): return .object(members)
            default: throw fail("expected ',' or '}'", at: reader.offset - 1)
            }
        }
    }

    private mutating func parseArray(depth: Int) throws -> HeaderJSON {
        _ = try next()  // '['
        var elements: [HeaderJSON] = []
        skipWhitespace()
        if reader.peekByte() == UInt8(ascii: "]") { _ = try next(); return .array(elements) }
        while true {
            elements.append(try parseValue(depth: depth + 1))
            skipWhitespace()
            switch try next() {
            case UInt8(ascii: ","): continue
            case UInt8(ascii: "]"): return .array(elements)
            default: throw fail("expected ',' or ']'", at: reader.offset - 1)
            }
        }
    }

    private mutating func parseNumber() throws -> String {
        let start = reader.offset
        while let byte = reader.peekByte(),
              (UInt8(ascii: "0") ... UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "+")
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "e") || byte == UInt8(ascii: "E") {
            _ = try next()
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: reader.bytes[start ..< reader.offset]), as: UTF8.self)
        guard Double(text) != nil else { throw fail("invalid number '\(text)'", at: start) }
        return text
    }

    private mutating func parseHex4() throws -> UInt32 {
        var value: UInt32 = 0
        for _ in 0 ..< 4 {
            let c = try next()
            let digit: UInt8
            switch c {
            case UInt8(ascii: "0") ... UInt8(ascii: "9"): digit = c - UInt8(ascii: "0")
            case UInt8(ascii: "a") ... UInt8(ascii: "f"): digit = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A") ... UInt8(ascii: "F"): digit = c - UInt8(ascii: "A") + 10
            default: throw fail("invalid \\u escape", at: reader.offset - 1)
            }
            value = value << 4 | UInt32(digit)
        }
        return value
    }

    private mutating func parseString() throws -> String {
        let start = reader.offset
        _ = try next()  // '"'
        var bytes: [UInt8] = []
        while true {
            let byte = try next()
            switch byte {
            case UInt8(ascii: "\""):
                guard let string = String(validating: bytes, as: UTF8.self) else {
                    throw fail("string is not valid UTF-8", at: start)
                }
                return string
            case UInt8(ascii: "\\"):
                let escape = try next()
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): bytes.append(escape)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0C)
                case UInt8(ascii: "n"): bytes.append(0x0A)
                case UInt8(ascii: "r"): bytes.append(0x0D)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800 ..< 0xDC00).contains(scalar) {
                        guard try next() == UInt8(ascii: "\\"), try next() == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate in string", at: start)
                        }
                        let low = try parseHex4()
                        guard (0xDC00 ..< 0xE000).contains(low) else { throw fail("unpaired surrogate in string", at: start) }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape", at: start) }
                    bytes.append(contentsOf: Array(String(Character(unicode)).utf8))
                default:
                    throw fail("invalid escape '\\\(Character(Unicode.Scalar(escape)))'", at: reader.offset - 1)
                }
            case 0x00 ..< 0x20:
                throw fail("control character in string", at: reader.offset - 1)
            default:
                bytes.append(byte)
            }
        }
    }
}

/// Serializes strings the way serde_json does (escapes `"` `\` and control characters only).
enum HeaderJSONWriter {
    static func quoted(_ string: String) -> String {
        var out = "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case "\u{00}" ..< "\u{20}":
                let hex = hexByte(UInt8(scalar.value))
                out += "\\u00\(hex)"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
