// The statistics cache shared between repositories ($MLEDIT_CACHE/statistics): C0 of one layer,
// content-addressed. A file's name is the SHA-256 of everything that determines its content —
// the base model's digest, the tensor, the corpus digest, the token count, the sequence length
// and the version of the statistics code — and the file carries that description and the SHA-256
// of its payload, both verified on load. Anything that does not match is ignored with a note and
// the statistics are recomputed; the cache may be deleted at any time.
import Foundation
import Ledger
import Models
import Solvers

package struct SharedStatisticsCache {
    /// Bumped whenever the statistics code would compute different values for the same inputs.
    package static let codeVersion = 3
    package static let magic = "mledit-statistics\n"

    package let directory: URL

    package struct Key {
        var baseDigest: String
        var layer: Int
        var corpusDigest: String
        var tokenCount: Int
        var sequenceLength: Int

        /// The canonical description the file name hashes and the file repeats.
        var description: String {
            let fields: [(String, String)] = [
                ("base_sha256", baseDigest), ("code_version", String(SharedStatisticsCache.codeVersion)),
                ("corpus_sha256", corpusDigest), ("sequence_length", String(sequenceLength)),
                ("tensor", TensorNaming.mlpOutputWeight(layer: layer)), ("token_count", String(tokenCount)),
            ]
            return fields.map { "\($0.0)=\($0.1)" }.joined(separator: ";")
        }

        var fileName: String { SHA256.hash(description).hex + ".c0" }
    }

    package func url(for key: Key) -> URL { directory.appendingPathComponent(key.fileName) }

    /// The statistics stored for `key`, nil when there are none or they fail verification
    /// (`rejected` then says why).
    package func load(_ key: Key, dimension: Int, rejected: (String) -> Void) -> LayerStatistics? {
        let file = url(for: key)
        guard let data = FileManager.default.contents(atPath: file.path) else { return nil }
        let bytes = [UInt8](data)
        let header = Array(Self.magic.utf8)
        guard bytes.count > header.count, Array(bytes[0..<header.count]) == header,
              let end = bytes[header.count...].firstIndex(of: UInt8(ascii: "\n")),
              let second = bytes[(end + 1)...].firstIndex(of: UInt8(ascii: "\n")) else {
            rejected("\(file.path) is not a statistics file")
            return nil
        }
        let description = String(decoding: bytes[header.count..<end], as: UTF8.self)
        let digest = String(decoding: bytes[(end + 1)..<second], as: UTF8.self)
        let payload = Data(bytes[(second + 1)...])
        guard description == key.description else {
            rejected("\(file.path) describes other statistics than its name says")
            return nil
        }
        guard SHA256.hash(payload).hex == digest else {
            rejected("\(file.path) does not match its recorded SHA-256 (changed or damaged)")
            return nil
        }
        do {
            return try LayerStatistics(layer: key.layer, tokenCount: key.tokenCount, dimension: dimension, blob: payload)
        } catch {
            rejected("\(file.path): \(MLEditError.oneLine(error))")
            return nil
        }
    }

    /// Stores `statistics` under `key` (atomically; failures only cost a recomputation later).
    package func store(_ statistics: LayerStatistics, key: Key) {
        let payload = statistics.blob
        var data = Data(Self.magic.utf8)
        data.append(Data((key.description + "\n" + SHA256.hash(payload).hex + "\n").utf8))
        data.append(payload)
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try? data.write(to: url(for: key), options: .atomic)
    }
}
