// Byte-level BPE merging of one word: the merge-rank table keyed by a pair of token ids, the
// merge loop (lowest rank first, leftmost first among equal ranks, as Hugging Face tokenizers and
// llama.cpp do) on reusable buffers, and a per-call cache of short words. Deliberately knows
// nothing of strings: words arrive as UTF-8 bytes and leave as token ids with byte lengths.

/// Open-addressing hash map from a token-id pair to (merge rank, merged token id).
struct MergeTable: Sendable {
    private static let emptyKey = UInt64.max
    private var keys: [UInt64]
    /// `rank << 32 | mergedID` for each slot.
    private var values: [UInt64]
    private let mask: Int
    private(set) var count = 0

    init(minimumCapacity: Int) {
        var capacity = 16
        while capacity < minimumCapacity * 2 { capacity <<= 1 }
        keys = [UInt64](repeating: Self.emptyKey, count: capacity)
        values = [UInt64](repeating: 0, count: capacity)
        mask = capacity - 1
    }

    @inline(__always)
    static func key(_ left: Int32, _ right: Int32) -> UInt64 {
        UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))
    }

    @inline(__always)
    static func slot(_ key: UInt64, _ mask: Int) -> Int {
        Int(truncatingIfNeeded: (key &* 0x9E37_79B9_7F4A_7C15) >> 32) & mask
    }

    /// Inserts the pair unless present (the first listed merge of a pair wins); returns whether
    /// it was inserted.
    @discardableResult
    mutating func insert(left: Int32, right: Int32, rank: Int32, merged: Int32) -> Bool {
        let key = Self.key(left, right)
        var s = Self.slot(key, mask)
        while keys[s] != Self.emptyKey {
            if keys[s] == key { return false }
            s = (s + 1) & mask
        }
        keys[s] = key
        values[s] = UInt64(UInt32(bitPattern: rank)) << 32 | UInt64(UInt32(bitPattern: merged))
        count += 1
        return true
    }

    /// `rank << 32 | mergedID`, or nil when the pair is not a merge.
    func lookup(_ left: Int32, _ right: Int32) -> UInt64? {
        withReader { $0.lookup(left, right) }
    }

    func withReader<R>(_ body: (Reader) -> R) -> R {
        keys.withUnsafeBufferPointer { k in
            values.withUnsafeBufferPointer { v in body(Reader(keys: k, values: v, mask: mask)) }
        }
    }

    /// Unsafe read access for the merge loop.
    struct Reader {
        let keys: UnsafeBufferPointer<UInt64>
        let values: UnsafeBufferPointer<UInt64>
        let mask: Int

        @inline(__always)
        func lookup(_ left: Int32, _ right: Int32) -> UInt64? {
            let key = MergeTable.key(left, right)
            var s = MergeTable.slot(key, mask)
            while true {
                let k = keys[s]
                if k == key { return values[s] }
                if k == MergeTable.emptyKey { return nil }
                s = (s + 1) & mask
            }
        }
    }
}

/// Reusable buffers for merging words, and the cache of short words' results.
struct BPEWorkspace {
    // Symbols of the word being merged, a doubly linked list over positions. Shape (n) each.
    private var ids: [Int32] = []
    private var lengths: [Int32] = []
    private var previous: [Int32] = []
    private var next: [Int32] = []
    /// Min-heap of candidate merges, `rank << 32 | leftPosition`.
    private var heap: [UInt64] = []

    /// Words of at most 15 bytes, packed with their length, mapped to `start << 32 | count` in
    /// `cachedIDs`/`cachedLengths`.
    private var cache: [PackedWord: UInt64] = [:]
    private var cachedIDs: [Int32] = []
    private var cachedLengths: [Int32] = []
    private static let cacheLimit = 1 << 16

    struct PackedWord: Hashable {
        var low: UInt64
        var high: UInt64
    }

    /// Merges the word `bytes` (already mapped to initial token ids by `byteIDs`) and appends
    /// the resulting ids, and each token's byte length, to `outIDs` / `outLengths`.
    /// `byteIDs[b]` is -1 for a byte with no token; such bytes become `unknownID` or are dropped.
    mutating func encode(
        word bytes: UnsafeBufferPointer<UInt8>, byteIDs: UnsafeBufferPointer<Int32>, unknownID: Int32,
        merges: MergeTable.Reader, outIDs: inout [Int32], outLengths: inout [Int32]
    ) {
        var packed: PackedWord?
        if bytes.count <= 15 {
            var low: UInt64 = 0
            var high = UInt64(bytes.count) << 56
            for (i, b) in bytes.enumerated() {
                if i < 8 { low |= UInt64(b) << (8 * i) } else { high |= UInt64(b) << (8 * (i - 8)) }
            }
            let key = PackedWord(low: low, high: high)
            if let hit = cache[key] {
                let start = Int(hit >> 32)
                let count = Int(hit & 0xFFFF_FFFF)
                outIDs.append(contentsOf: cachedIDs[start..<(start + count)])
                outLengths.append(contentsOf: cachedLengths[start..<(start + count)])
                return
            }
            packed = key
        }
        let firstOutput = outIDs.count
        let firstLength = outLengths.count
        merge(bytes, byteIDs: byteIDs, unknownID: unknownID, merges: merges, outIDs: &outIDs, outLengths: &outLengths)
        if let packed {
            if cache.count >= Self.cacheLimit {
                cache.removeAll(keepingCapacity: true)
                cachedIDs.removeAll(keepingCapacity: true)
                cachedLengths.removeAll(keepingCapacity: true)
            }
            let start = UInt64(cachedIDs.count)
            let count = UInt64(outIDs.count - firstOutput)
            cachedIDs.append(contentsOf: outIDs[firstOutput...])
            cachedLengths.append(contentsOf: outLengths[firstLength...])
            cache[packed] = start << 32 | count
        }
    }

    private mutating func merge(
        _ bytes: UnsafeBufferPointer<UInt8>, byteIDs: UnsafeBufferPointer<Int32>, unknownID: Int32,
        merges: MergeTable.Reader, outIDs: inout [Int32], outLengths: inout [Int32]
    ) {
        ids.removeAll(keepingCapacity: true)
        lengths.removeAll(keepingCapacity: true)
        // Bytes without a token: the unknown token if there is one, else dropped (as HF BPE
        // without unk_token does); a dropped byte's length joins the next symbol so offsets stay
        // aligned with the text.
        var pendingLength: Int32 = 0
        for b in bytes {
            let id = byteIDs[Int(b)] >= 0 ? byteIDs[Int(b)] : unknownID
            if id < 0 {
                pendingLength += 1
                continue
            }
            ids.append(id)
            lengths.append(1 + pendingLength)
            pendingLength = 0
        }
        if pendingLength > 0, !lengths.isEmpty { lengths[lengths.count - 1] += pendingLength }
        let n = ids.count
        if n == 0 { return }
        if n == 1 {
            outIDs.append(ids[0])
            outLengths.append(lengths[0])
            return
        }
        previous.removeAll(keepingCapacity: true)
        next.removeAll(keepingCapacity: true)
        heap.removeAll(keepingCapacity: true)
        for i in 0..<n {
            previous.append(Int32(i - 1))
            next.append(i + 1 < n ? Int32(i + 1) : -1)
        }
        ids.withUnsafeMutableBufferPointer { ids in
            lengths.withUnsafeMutableBufferPointer { lengths in
                previous.withUnsafeMutableBufferPointer { previous in
                    next.withUnsafeMutableBufferPointer { next in
                        for i in 0..<(n - 1) {
                            if let value = merges.lookup(ids[i], ids[i + 1]) {
                                heap.pushMin(value & 0xFFFF_FFFF_0000_0000 | UInt64(i))
                            }
                        }
                        while let top = heap.popMin() {
                            let rank = top >> 32
                            let left = Int(top & 0xFFFF_FFFF)
                            // Stale entries: the left symbol was absorbed (length 0) or its right
                            // neighbour changed. A pair's rank identifies the pair, so an equal
                            // rank means the entry still stands.
                            guard lengths[left] > 0 else { continue }
                            let right = Int(next[left])
                            guard right >= 0, let value = merges.lookup(ids[left], ids[right]),
                                  value >> 32 == rank else { continue }
                            ids[left] = Int32(truncatingIfNeeded: value & 0xFFFF_FFFF)
                            lengths[left] += lengths[right]
                            lengths[right] = 0
                            let after = next[right]
                            next[left] = after
                            if after >= 0 { previous[Int(after)] = Int32(left) }
                            let before = Int(previous[left])
                            if before >= 0, let v = merges.lookup(ids[before], ids[left]) {
                                heap.pushMin(v & 0xFFFF_FFFF_0000_0000 | UInt64(before))
                            }
                            if after >= 0, let v = merges.lookup(ids[left], ids[Int(after)]) {
                                heap.pushMin(v & 0xFFFF_FFFF_0000_0000 | UInt64(left))
                            }
                        }
                        var p = 0
                        while p >= 0 {
                            outIDs.append(ids[p])
                            outLengths.append(lengths[p])
                            p = Int(next[p])
                        }
                    }
                }
            }
        }
    }
}

fileprivate extension Array where Element == UInt64 {
    @inline(__always)
    mutating func pushMin(_ value: UInt64) {
        append(value)
        withUnsafeMutableBufferPointer { h in
            var i = h.count - 1
            while i > 0 {
                let parent = (i - 1) >> 1
                if h[parent] <= h[i] { break }
                h.swapAt(parent, i)
                i = parent
            }
        }
    }

    @inline(__always)
    mutating func popMin() -> UInt64? {
        guard let last = popLast() else { return nil }
        if isEmpty { return last }
        return withUnsafeMutableBufferPointer { h in
            let top = h[0]
            h[0] = last
            var i = 0
            let n = h.count
            while true {
                let l = 2 * i + 1
                if l >= n { break }
                let r = l + 1
                let m = (r < n && h[r] < h[l]) ? r : l
                if h[i] <= h[m] { break }
                h.swapAt(i, m)
                i = m
            }
            return top
        }
    }
}
