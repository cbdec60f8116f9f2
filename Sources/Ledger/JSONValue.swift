// A JSON value with one canonical text form, used for everything the ledger hashes or stores as
// JSON (hyperparameters, prefixes, facts' lists, metrics, configurations). Canonical means: object
// keys sorted by their UTF-8 bytes, no whitespace, integers without a fraction, other numbers in
// Swift's shortest round-trip form, strings escaped minimally. It is not a general JSON library:
// no streaming, no comments, no NaN or infinity.
import Foundation

/// A JSON document.
public enum JSONValue: Equatable, Hashable, Sendable {
    case null
    case bool(Bool)
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// Parses JSON text.
    /// - Throws: `LedgerError.invalidJSON` naming `field`.
    public init(parsing text: String, field: String = "JSON") throws {
        do {
            self = try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
        } catch {
            throw LedgerError.invalidJSON(field: field, reason: Self.describe(error))
        }
    }

    /// The JSON form of any `Encodable` value (e.g. a hyperparameter struct).
    /// - Throws: `LedgerError.invalidJSON` when encoding fails (e.g. a NaN).
    public init<T: Encodable>(encoding value: T, field: String = "JSON") throws {
        do {
            let data = try JSONEncoder().encode(value)
            self = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw LedgerError.invalidJSON(field: field, reason: Self.describe(error))
        }
    }

    /// Decodes this value into a `Decodable` type.
    /// - Throws: `LedgerError.invalidJSON` naming `field`.
    public func decode<T: Decodable>(_ type: T.Type, field: String = "JSON") throws -> T {
        do {
            return try JSONDecoder().decode(T.self, from: Data(try canonicalText().utf8))
        } catch let error as LedgerError {
            throw error
        } catch {
            throw LedgerError.invalidJSON(field: field, reason: Self.describe(error))
        }
    }

    private static func describe(_ error: Error) -> String {
        if let decoding = error as? DecodingError {
            switch decoding {
            case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context),
                 .keyNotFound(_, let context):
                let path = context.codingPath.map(\.stringValue).joined(separator: ".")
                return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
            @unknown default:
                return "\(decoding)"
            }
        }
        return "\(error)"
    }

    public var stringValue: String? { if case .string(let s) = self { s } else { nil } }
    public var arrayValue: [JSONValue]? { if case .array(let a) = self { a } else { nil } }
    public var objectValue: [String: JSONValue]? { if case .object(let o) = self { o } else { nil } }
    public var doubleValue: Double? {
        switch self {
        case .integer(let i): Double(i)
        case .number(let d): d
        default: nil
        }
    }

    public subscript(key: String) -> JSONValue? { objectValue?[key] }

    /// The canonical text (see the file comment).
    /// - Throws: `LedgerError.invalidJSON` for a NaN or infinite number.
    public func canonicalText() throws -> String {
        var out = ""
        try write(into: &out)
        return out
    }

    private func write(into out: inout String) throws {
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .integer(let i): out += String(i)
        case .number(let d):
            guard d.isFinite else { throw LedgerError.invalidJSON(field: "number", reason: "\(d) is not representable in JSON") }
            if d == d.rounded(), abs(d) < 9.007_199_254_740_992e15 {
                out += String(Int64(d))
            } else {
                out += "\(d)"
            }
        case .string(let s): Self.writeString(s, into: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                try item.write(into: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            let keys = members.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            for (i, key) in keys.enumerated() {
                if i > 0 { out += "," }
                Self.writeString(key, into: &out)
                out += ":"
                try members[key]!.write(into: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ s: String, into out: inout String) {
        out += "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

extension JSONValue: Codable {
    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let b = try? container.decode(Bool.self) {
            self = .bool(b)
        } else if let i = try? container.decode(Int64.self) {
            self = .integer(i)
        } else if let d = try? container.decode(Double.self) {
            self = .number(d)
        } else if let s = try? container.decode(String.self) {
            self = .string(s)
        } else if let a = try? container.decode([JSONValue].self) {
            self = .array(a)
        } else if let o = try? container.decode([String: JSONValue].self) {
            self = .object(o)
        } else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a JSON value")
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .integer(let i): try container.encode(i)
        case .number(let d): try container.encode(d)
        case .string(let s): try container.encode(s)
        case .array(let a): try container.encode(a)
        case .object(let o): try container.encode(o)
        }
    }
}

extension JSONValue {
    /// A JSON array of strings.
    public static func strings(_ values: [String]) -> JSONValue { .array(values.map { .string($0) }) }

    /// The elements of a JSON array of strings.
    /// - Throws: `LedgerError.invalidJSON` naming `field` when this is not an array of strings.
    public func stringArray(field: String) throws -> [String] {
        guard let items = arrayValue else { throw LedgerError.invalidJSON(field: field, reason: "expected an array of strings") }
        return try items.map {
            guard let s = $0.stringValue else { throw LedgerError.invalidJSON(field: field, reason: "expected an array of strings") }
            return s
        }
    }
}
