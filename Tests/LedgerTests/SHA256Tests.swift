// SHA-256 against the FIPS 180-2 / NIST example vectors, incremental hashing and file streaming.
import Foundation
import Testing
@testable import Ledger

@Suite("SHA-256")
struct SHA256Tests {
    @Test("FIPS 180 example vectors")
    func vectors() {
        #expect(SHA256.hash("").hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hash("abc").hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hash("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").hex
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hash("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu").hex
                == "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1")
        #expect(SHA256.hash([UInt8](repeating: 0x61, count: 1_000_000)).hex
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test("padding boundaries: 55, 56, 63, 64 and 65 bytes")
    func boundaries() {
        // Independent values (coreutils sha256sum of that many 'a' bytes).
        let expected = [
            55: "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318",
            56: "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a",
            63: "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34",
            64: "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb",
            65: "635361c48bb9eab14198e76ea8ab7f1a41685d6ad62aa9146d301d4f17eb0ae0",
        ]
        for (count, digest) in expected {
            #expect(SHA256.hash([UInt8](repeating: 0x61, count: count)).hex == digest, "length \(count)")
        }
    }

    @Test("incremental updates with arbitrary splits equal one-shot hashing")
    func incremental() {
        let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let oneShot = SHA256.hash(bytes)
        for step in [1, 3, 63, 64, 65, 1000, 4096] {
            var hasher = SHA256()
            var offset = 0
            while offset < bytes.count {
                let end = min(bytes.count, offset + step)
                hasher.update(bytes[offset..<end])
                offset = end
            }
            #expect(hasher.finalize() == oneShot, "chunk size \(step)")
        }
    }

    @Test("hash(fileAt:) streams a file larger than one chunk")
    func file() throws {
        let directory = try TemporaryDirectory()
        let url = directory.url.appendingPathComponent("blob.bin")
        let bytes = (0..<(9 << 20) + 17).map { UInt8(truncatingIfNeeded: $0 >> 3 ^ $0) }
        try Data(bytes).write(to: url)
        #expect(try SHA256.hash(fileAt: url) == SHA256.hash(bytes))
        #expect(throws: LedgerError.self) { try SHA256.hash(fileAt: directory.url.appendingPathComponent("missing")) }
    }
}
