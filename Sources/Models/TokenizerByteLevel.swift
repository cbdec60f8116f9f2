// GPT-2's reversible byte <-> character alphabet ("bytes_to_unicode"): printable Latin-1 bytes
// stand for themselves, the other 68 bytes for U+0100...U+0143 in byte order, so that every
// token of a byte-level vocabulary is a printable string ("Ġ" = space, "Ċ" = newline).
// Deliberately only the table: splitting and merging live elsewhere.

enum ByteLevelAlphabet {
    /// The scalar value standing for each byte. Shape (256).
    static let scalarForByte: [UInt32] = {
        var result = [UInt32](repeating: 0, count: 256)
        var shifted: UInt32 = 0
        for b in 0..<256 {
            if (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b) {
                result[b] = UInt32(b)
            } else {
                result[b] = 256 + shifted
                shifted += 1
            }
        }
        return result
    }()

    /// The byte each alphabet scalar stands for, indexed by scalar value; -1 outside the alphabet.
    static let byteForScalar: [Int16] = {
        var result = [Int16](repeating: -1, count: 324)
        for (b, scalar) in scalarForByte.enumerated() { result[Int(scalar)] = Int16(b) }
        return result
    }()

    /// The UTF-8 spelling of the single-byte token for `byte` ("Ġ" for 0x20).
    static func spelling(ofByte byte: Int) -> [UInt8] {
        guard let scalar = Unicode.Scalar(scalarForByte[byte]) else { return [] }
        return Array(String(Character(scalar)).utf8)
    }

    /// The bytes a token spelling stands for: mapped through the alphabet when every scalar is
    /// in it, else the spelling's own UTF-8 (as the Hugging Face ByteLevel decoder does for
    /// added tokens such as "<|im_start|>" or ones containing plain spaces).
    static func bytes(ofSpelling spelling: String) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(spelling.utf8.count)
        for scalar in spelling.unicodeScalars {
            let value = Int(scalar.value)
            guard value < byteForScalar.count, byteForScalar[value] >= 0 else { return Array(spelling.utf8) }
            result.append(UInt8(truncatingIfNeeded: byteForScalar[value]))
        }
        return result
    }
}
