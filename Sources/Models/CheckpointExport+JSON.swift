// A small JSON document model for the files export writes (config.json, tokenizer.json,
// adapter_config.json): objects keep their key order, so the files read like the ones
// transformers and tokenizers save. Output only; parsing is JSONSerialization's job.
import Foundation

/// A JSON value whose objects keep insertion order.
indirect enum ExportJSON {
    case null
    case bool(Bool)
    case integer(Int)
    /// A number written with Swift's shortest round-trip spelling of the Float (`1e-05`, `10000.0`).
    case float(Float)
    case string(String)
    case array([ExportJSON])
    case object([(String, ExportJSON)])

    /// UTF-8 text, pretty-printed with two-space indentation (as Python's `json.dumps(indent=2)`),
    /// non-ASCII characters written as themselves, ending with a newline.
    func rendered() -> Data {
        var out: [UInt8] = []
        out.reserveCapacity(1 << 16)
        write(into: &out, depth: 0)
        out.append(UInt8(ascii: "\n"))
        return Data(out)
    }

    private func write(into out: inout [UInt8], depth: Int) {
        func newline(_ depth: Int) {
            out.append(UInt8(ascii: "\n"))
            out.append(contentsOf: repeatElement(UInt8(ascii: " "), count: 2 * depth))
        }
        switch self {
        case .null: out.append(contentsOf: Array("null".utf8))
        case let .bool(flag): out.append(contentsOf: Array((flag ? "true" : "false").utf8))
        case let .integer(value): out.append(contentsOf: Array(String(value).utf8))
        case let .float(value):
            // JSON has no NaN or infinity; configurations never hold them (validated on load).
            out.append(contentsOf: Array((value.isFinite ? "\(value)" : "null").utf8))
        case let .string(text): Self.appendQuoted(text, to: &out)
        case let .array(items):
            if items.isEmpty { out.append(contentsOf: Array("[]".utf8)); return }
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                item.write(into: &out, depth: depth + 1)
            }
            newline(depth)
            out.append(UInt8(ascii: "]"))
        case let .object(members):
            if members.isEmpty { out.append(contentsOf: Array("{}".utf8)); return }
            out.append(UInt8(ascii: "{"))
            for (i, (key, value)) in members.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(depth + 1)
                Self.appendQuoted(key, to: &out)
                out.append(contentsOf: Array(": ".utf8))
                value.write(into: &out, depth: depth + 1)
            }
            newline(depth)
            out.append(UInt8(ascii: "}"))
        }
    }

    /// A JSON string literal: quotes, backslashes and control characters escaped, the rest raw UTF-8.
    static func appendQuoted(_ text: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0 ..< 0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
