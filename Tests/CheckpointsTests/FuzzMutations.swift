// The mutation engine of the checkpoint fuzz tests: seeded byte-level damage (flips, truncations,
// inserted and removed bytes), the positions of GGUF header fields so that they can be set to
// extreme values, and a model of a safetensors header that can be edited and written back. It
// validates nothing itself; FuzzTests.swift feeds its output to the readers.

import Foundation
import Tensors

/// The fuzz budget: MLEDIT_FUZZ_ITERATIONS cases per test (else the bounded default of
/// `make test`) from MLEDIT_FUZZ_SEED (else a fixed seed).
enum FuzzBudget {
    static func iterations(default bounded: Int) -> Int {
        ProcessInfo.processInfo.environment["MLEDIT_FUZZ_ITERATIONS"].flatMap { Int($0) }.map { max(1, $0) } ?? bounded
    }

    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["MLEDIT_FUZZ_SEED"].flatMap { UInt64($0) } ?? 17
    }

    /// The generator of case `index`: every case can be replayed on its own.
    static func generator(case index: Int, seed: UInt64 = seed) -> SeededGenerator {
        SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index))
    }
}

/// Aborts the process when one fuzz case runs for longer than `limit` seconds, so that a hang
/// fails the run instead of stalling it.
final class FuzzWatchdog: @unchecked Sendable {
    private let lock = NSLock()
    private var started: Date?
    private var label = ""
    private var stopped = false
    let limit: TimeInterval

    init(limit: TimeInterval = 60) {
        self.limit = limit
        let thread = Thread { [weak self] in
            while let self, self.poll() { Thread.sleep(forTimeInterval: 0.25) }
        }
        thread.start()
    }

    private func poll() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        if stopped { return false }
        if let started, Date().timeIntervalSince(started) > limit {
            FileHandle.standardError.write(Data("fuzz case \(label) ran for more than \(limit) s: a hang\n".utf8))
            exit(1)
        }
        return true
    }

    /// Marks the start of a case; returns when it started.
    func begin(_ label: String) -> Date {
        lock.lock()
        defer { lock.unlock() }
        self.label = label
        let now = Date()
        started = now
        return now
    }

    func end() {
        lock.lock()
        started = nil
        lock.unlock()
    }

    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
    }
}

/// Byte-level mutations. Positions fall in `hot` (the header) three times out of four.
enum ByteMutation {
    static let interestingBytes: [UInt8] = [0x00, 0x01, 0x0A, 0x20, 0x22, 0x2C, 0x5B, 0x5C, 0x7B, 0x7F, 0x80, 0xC0, 0xFE, 0xFF]

    static func position(_ count: Int, hot: Range<Int>, _ g: inout SeededGenerator) -> Int {
        guard count > 0 else { return 0 }
        let upper = min(hot.upperBound, count)
        if upper > hot.lowerBound, Int.random(in: 0 ..< 4, using: &g) != 0 {
            return Int.random(in: hot.lowerBound ..< upper, using: &g)
        }
        return Int.random(in: 0 ..< count, using: &g)
    }

    /// One random byte-level change of `bytes`.
    static func apply(_ bytes: inout [UInt8], hot: Range<Int>, _ g: inout SeededGenerator) {
        let at = position(bytes.count, hot: hot, &g)
        switch Int.random(in: 0 ..< 7, using: &g) {
        case 0 where !bytes.isEmpty:
            bytes[at] ^= UInt8(1) << UInt8.random(in: 0 ..< 8, using: &g)
        case 1 where !bytes.isEmpty:
            bytes[at] = interestingBytes.randomElement(using: &g) ?? 0
        case 2 where !bytes.isEmpty:
            bytes[at] = UInt8.random(in: 0 ... 255, using: &g)
        case 3:
            bytes.removeSubrange(at...)
        case 4:
            let inserted = (0 ..< Int.random(in: 1 ... 16, using: &g)).map { _ in UInt8.random(in: 0 ... 255, using: &g) }
            bytes.insert(contentsOf: inserted, at: at)
        case 5:
            bytes.removeSubrange(at ..< min(bytes.count, at + Int.random(in: 1 ... 16, using: &g)))
        default:
            // A chunk copied over another place, as a misplaced write would do.
            guard bytes.count > 2 else { return }
            let length = Int.random(in: 1 ... min(64, bytes.count / 2), using: &g)
            let from = Int.random(in: 0 ... bytes.count - length, using: &g)
            let to = Int.random(in: 0 ... bytes.count - length, using: &g)
            let chunk = Array(bytes[from ..< from + length])
            bytes.replaceSubrange(to ..< to + length, with: chunk)
        }
    }

    /// A value for an integer field of `width` bytes that a validator has to think about: the
    /// edges of each width, sizes near the file's, and neighbours of the original.
    static func extremeValue(original: UInt64, width: Int, fileSize: Int, _ g: inout SeededGenerator) -> UInt64 {
        let size = UInt64(fileSize)
        let candidates: [UInt64] = [
            0, 1, 2, 3, 4, 7, 8, 13, 31, 32, 33, 63, 64, 255, 256, 1 << 16, 1 << 30, (1 << 30) + 1,
            1 << 31, (1 << 32) - 1, 1 << 32, 1 << 40, 1 << 62, UInt64(Int64.max), UInt64(Int64.max) - 1,
            1 << 63, UInt64.max, UInt64.max - 1, size, size &- 1, size &+ 1, size &* 2,
            UInt64(Int64.max) &- size, original &+ 1, original &- 1, original &* 2, original &* 256,
            original / 2, original &+ size,
        ]
        let value = candidates.randomElement(using: &g) ?? 0
        return width >= 8 ? value : value & ((1 << UInt64(8 * width)) - 1)
    }

    static func writeLittleEndian(_ value: UInt64, width: Int, into bytes: inout [UInt8], at offset: Int) {
        for i in 0 ..< width where offset + i < bytes.count {
            bytes[offset + i] = UInt8(truncatingIfNeeded: value >> UInt64(8 * i))
        }
    }

    static func readLittleEndian(_ bytes: [UInt8], at offset: Int, width: Int) -> UInt64 {
        var value: UInt64 = 0
        for i in 0 ..< width where offset + i < bytes.count { value |= UInt64(bytes[offset + i]) << UInt64(8 * i) }
        return value
    }
}

/// Where the integer fields of a well-formed GGUF file sit, by what they hold.
struct GGUFFieldMap {
    enum Kind: CaseIterable {
        case version, tensorCount, metadataCount, keyLength, valueType, stringLength, arrayType, arrayCount
        case alignment, nameLength, rank, dimension, tensorType, dataOffset
    }

    struct Field {
        var offset: Int
        var width: Int
    }

    private(set) var fields: [Kind: [Field]] = [:]
    /// The end of the tensor descriptions: everything before it is header.
    private(set) var headerEnd = 0

    /// Walks `bytes`, which must be a well-formed GGUF file (the fixtures).
    init(_ bytes: [UInt8]) {
        var at = 8
        func field(_ kind: Kind, _ width: Int) -> UInt64 {
            fields[kind, default: []].append(Field(offset: at, width: width))
            defer { at += width }
            return ByteMutation.readLittleEndian(bytes, at: at, width: width)
        }
        func string(_ kind: Kind) -> String {
            let length = Int(field(kind, 8))
            defer { at += length }
            return String(decoding: bytes[min(at, bytes.count) ..< min(at + length, bytes.count)], as: UTF8.self)
        }
        func value(_ type: UInt64, key: String) {
            let fixed: [UInt64: Int] = [0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8]
            if type == 8 {
                _ = string(.stringLength)
            } else if type == 9 {
                let elementType = field(.arrayType, 4)
                let count = field(.arrayCount, 8)
                for _ in 0 ..< count where at < bytes.count { value(elementType, key: key) }
            } else if key == "general.alignment" {
                _ = field(.alignment, 4)
            } else {
                at += fixed[type] ?? 0
            }
        }
        fields[.version] = [Field(offset: 4, width: 4)]
        let tensorCount = field(.tensorCount, 8)
        let metadataCount = field(.metadataCount, 8)
        for _ in 0 ..< metadataCount where at < bytes.count {
            let key = string(.keyLength)
            value(field(.valueType, 4), key: key)
        }
        for _ in 0 ..< tensorCount where at < bytes.count {
            _ = string(.nameLength)
            let rank = field(.rank, 4)
            for _ in 0 ..< rank { _ = field(.dimension, 8) }
            _ = field(.tensorType, 4)
            _ = field(.dataOffset, 8)
        }
        headerEnd = at
    }

    /// Sets one field of a random kind to an extreme value.
    func mutate(_ bytes: inout [UInt8], _ g: inout SeededGenerator) {
        let kinds = Kind.allCases.filter { !(fields[$0] ?? []).isEmpty }
        guard let kind = kinds.randomElement(using: &g), let field = fields[kind]?.randomElement(using: &g) else { return }
        let original = ByteMutation.readLittleEndian(bytes, at: field.offset, width: field.width)
        let value = ByteMutation.extremeValue(original: original, width: field.width, fileSize: bytes.count, &g)
        ByteMutation.writeLittleEndian(value, width: field.width, into: &bytes, at: field.offset)
    }
}

/// A safetensors file as an editable header (numbers kept as text, so that they can be written
/// out of any range) and the byte buffer after it.
struct SafetensorsModel {
    struct Entry {
        var name: String
        var dtype: String
        var shape: [String]
        var offsets: [String]
    }

    /// `__metadata__` pairs, each value as raw JSON text.
    var metadata: [(key: String, json: String)]
    /// Tensors in the order of their data.
    var entries: [Entry]
    var buffer: [UInt8]

    static let dtypeSizes: [String: Int] = [
        "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
        "I32": 4, "U32": 4, "F32": 4, "F64": 8, "I64": 8, "U64": 8,
    ]

    /// Reads a well-formed file (the fixtures).
    init?(_ bytes: [UInt8]) {
        let size = Int(ByteMutation.readLittleEndian(bytes, at: 0, width: 8))
        guard 8 + size <= bytes.count,
              let header = try? JSONSerialization.jsonObject(with: Data(bytes[8 ..< 8 + size])) as? [String: Any] else { return nil }
        metadata = ((header["__metadata__"] as? [String: String]) ?? [:]).sorted { $0.key < $1.key }.map {
            (key: $0.key, json: Self.quoted($0.value))
        }
        entries = header.compactMap { name, value -> Entry? in
            guard let fields = value as? [String: Any], let dtype = fields["dtype"] as? String,
                  let shape = fields["shape"] as? [Int], let offsets = fields["data_offsets"] as? [Int] else { return nil }
            return Entry(name: name, dtype: dtype, shape: shape.map(String.init), offsets: offsets.map(String.init))
        }.sorted { (Int($0.offsets[0]) ?? 0, $0.name) < (Int($1.offsets[0]) ?? 0, $1.name) }
        buffer = Array(bytes[(8 + size)...])
    }

    /// A JSON string literal; control characters as \u escapes.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            if scalar == "\"" || scalar == "\\" {
                out += "\\" + String(scalar)
            } else if scalar.value < 0x20 {
                out += String(format: "\\u%04x", scalar.value)
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    func headerJSON() -> String {
        var members = metadata.isEmpty ? [] : ["\"__metadata__\":{" + metadata.map { Self.quoted($0.key) + ":" + $0.json }.joined(separator: ",") + "}"]
        for entry in entries {
            members.append(Self.quoted(entry.name) + ":{\"dtype\":" + Self.quoted(entry.dtype) + ",\"shape\":["
                + entry.shape.joined(separator: ",") + "],\"data_offsets\":[" + entry.offsets.joined(separator: ",") + "]}")
        }
        return "{" + members.joined(separator: ",") + "}"
    }

    /// The file: size, header padded with spaces to a multiple of 8, buffer.
    func bytes(pad: Bool = true) -> [UInt8] {
        var json = Array(headerJSON().utf8)
        if pad { json += [UInt8](repeating: 0x20, count: (8 - json.count % 8) % 8) }
        var size: [UInt8] = []
        for i in 0 ..< 8 { size.append(UInt8(truncatingIfNeeded: UInt64(json.count) >> UInt64(8 * i))) }
        return size + json + buffer
    }

    static let extremeNumbers = [
        "0", "1", "-1", "-0", "01", "1.0", "1e3", "2147483648", "4294967296", "9223372036854775807",
        "9223372036854775808", "18446744073709551615", "18446744073709551616", "99999999999999999999999999",
    ]

    /// One structural change of the header.
    mutating func mutate(_ g: inout SeededGenerator) {
        guard !entries.isEmpty else { return }
        let k = Int.random(in: 0 ..< entries.count, using: &g)
        switch Int.random(in: 0 ..< 9, using: &g) {
        case 0:
            // A number of the header set to an edge of what integers can be.
            var values = entries[k].shape + entries[k].offsets
            guard !values.isEmpty else { return }
            let slot = Int.random(in: 0 ..< values.count, using: &g)
            let original = Int(values[slot]) ?? 0
            let near = [original &+ 1, original &- 1, original &* 2, buffer.count, buffer.count + 1].map(String.init)
            values[slot] = (Self.extremeNumbers + near).randomElement(using: &g) ?? "0"
            entries[k].shape = Array(values.prefix(entries[k].shape.count))
            entries[k].offsets = Array(values.suffix(entries[k].offsets.count))
        case 1:
            resize(k, g: &g)
        case 2:
            // Offsets moved by a large amount, sizes kept.
            let deltas = [1, -1, 8, Int.max / 2, Int.max - buffer.count, Int.max &- (Int(entries[k].offsets.last ?? "0") ?? 0)]
            let delta = deltas.randomElement(using: &g) ?? 1
            entries[k].offsets = entries[k].offsets.map { text in
                guard let value = Int(text) else { return text }
                let (moved, overflow) = value.addingReportingOverflow(delta)
                return overflow ? text : String(moved)
            }
        case 3:
            entries[k].dtype = (Array(Self.dtypeSizes.keys).sorted() + ["f32", "F128", "", "F32 ", "U\u{0}8"]).randomElement(using: &g) ?? ""
        case 4:
            let names = entries.map(\.name) + ["", "__metadata__", "a\nb", "\u{0}", "\u{1F600}", String(repeating: "w", count: 300)]
            entries[k].name = names.randomElement(using: &g) ?? ""
        case 5:
            entries.remove(at: k)
        case 6:
            entries.insert(entries[k], at: Int.random(in: 0 ... entries.count, using: &g))
        case 7:
            let shapes: [[String]] = [[], ["0"], ["1", "1", "1", "1", "1", "1", "1", "1"], entries[k].shape.reversed()]
            entries[k].shape = shapes.randomElement(using: &g) ?? []
        default:
            let values = ["1", "null", "[]", "{}", "\"\\ud800\"", "\"x\"", "\"\u{0}\"", String(repeating: "[", count: 200)]
            metadata.append((key: ["format", "x", ""].randomElement(using: &g) ?? "", json: values.randomElement(using: &g) ?? "1"))
        }
    }

    /// Entry `k` resized to an extreme byte count as U8 with matching offsets, every later entry
    /// moved along, and the buffer resized to match when that stays small: local checks pass, so
    /// the checks of the whole layout are reached.
    private mutating func resize(_ k: Int, g: inout SeededGenerator) {
        guard let begin = Int(entries[k].offsets.first ?? ""), let end = Int(entries[k].offsets.last ?? "") else { return }
        let total = Int(entries.last?.offsets.last ?? "") ?? buffer.count
        let rest = total &- end
        let sizes = [0, 1, 7, 4096, 1 << 20, Int.max / 2, Int.max &- begin, Int.max &- begin &- rest,
                     Int.max &- begin &- rest &- Int.random(in: 0 ... 4096, using: &g)]
        guard let size = sizes.randomElement(using: &g), size >= 0 else { return }
        let (newEnd, overflow) = begin.addingReportingOverflow(size)
        guard !overflow else { return }
        entries[k].dtype = "U8"
        entries[k].shape = [String(size)]
        entries[k].offsets = [String(begin), String(newEnd)]
        let shift = newEnd &- end
        for j in entries.indices where j > k {
            entries[j].offsets = entries[j].offsets.map { text in
                guard let value = Int(text) else { return text }
                let (moved, overflow) = value.addingReportingOverflow(shift)
                return overflow ? text : String(moved)
            }
        }
        let (newTotal, totalOverflow) = total.addingReportingOverflow(shift)
        if !totalOverflow, newTotal >= 0, newTotal <= 1 << 22 {
            if newTotal < buffer.count { buffer.removeSubrange(newTotal...) } else { buffer += [UInt8](repeating: 0, count: newTotal - buffer.count) }
        }
    }
}
