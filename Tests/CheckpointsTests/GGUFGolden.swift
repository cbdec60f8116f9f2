// The golden GGUF file of FORMATS.md C.1 (written by gguf-py 0.19.0), spelled out as its dump.

enum GGUFGolden {
    static let bytes: [UInt8] = {
        var b: [UInt8] = []
        b += TestSupport.bytes(hex: "47475546 03000000 0100000000000000 0200000000000000")
        b += TestSupport.bytes(hex: "1400000000000000") + Array("general.architecture".utf8)
        b += TestSupport.bytes(hex: "08000000 0500000000000000") + Array("llama".utf8)
        b += TestSupport.bytes(hex: "1100000000000000") + Array("llama.block_count".utf8)
        b += TestSupport.bytes(hex: "04000000 01000000")
        b += TestSupport.bytes(hex: "1100000000000000") + Array("token_embd.weight".utf8)
        b += TestSupport.bytes(hex: "02000000 0300000000000000 0200000000000000 00000000 0000000000000000")
        b += [0]  // 0x9f: pad to 160
        b += TestSupport.bytes(hex: "00000000 0000803f 00000040 00004040 00008040 0000a040")
        b += [UInt8](repeating: 0, count: 8)
        return b
    }()

    /// Byte offsets of fields in `bytes` used to build broken variants.
    static let versionOffset = 4
    static let blockCountTypeOffset = 0x45 + 8 + 17
    static let tensorInfoOffset = 0x66
    static let tensorTypeOffset = 0x66 + 8 + 17 + 4 + 16
    static let tensorOffsetOffset = tensorTypeOffset + 4
    static let dataOffset = 160
}
