// Reference quantizers for Q8_0, Q4_0 and Q4_1 (Float32 -> ggml blocks), operation for operation
// as ggml's quantize_row_*_ref and gguf-py's numpy versions, so the bytes match theirs exactly.
// They are simple round-to-nearest schemes; no importance matrix, no K-quants.

import Tensors

/// Converts Float32 values to ggml block formats.
public enum Quantization {
    /// Quantizes `src` (a multiple of 32 values) into `dst` for one of Q8_0, Q4_0 or Q4_1.
    /// - Returns: false for any other type.
    @discardableResult
    public static func quantize(_ type: GGMLType, _ src: UnsafeBufferPointer<Float>,
                                into dst: UnsafeMutableRawBufferPointer) -> Bool {
        switch type {
        case .q8_0: q8_0(src, into: dst)
        case .q4_0: q4_0(src, into: dst)
        case .q4_1: q4_1(src, into: dst)
        default: return false
        }
        return true
    }

    @inline(__always)
    static func storeHalf(_ value: Float, _ dst: UnsafeMutableRawBufferPointer, _ offset: Int) {
        let bits = HalfPrecision.halfFromFloat(value).littleEndian
        dst[offset] = UInt8(truncatingIfNeeded: bits)
        dst[offset + 1] = UInt8(truncatingIfNeeded: bits >> 8)
    }

    /// Q8_0: d = max|x| / 127, q = round(x / d) with ties away from zero.
    public static func q8_0(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer) {
        let blocks = src.count / 32
        precondition(src.count % 32 == 0 && dst.count == blocks * 34, "Q8_0: size mismatch")
        for b in 0 ..< blocks {
            let x = 32 * b
            var amax: Float = 0
            for j in 0 ..< 32 { amax = max(amax, abs(src[x + j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            let base = 34 * b
            storeHalf(d, dst, base)
            for j in 0 ..< 32 {
                let q = (src[x + j] * id).rounded(.toNearestOrAwayFromZero)
                dst[base + 2 + j] = UInt8(bitPattern: Int8(max(-128, min(127, q))))
            }
        }
    }

    /// Q4_0: d = (the value of largest magnitude) / -8, q = min(15, trunc(x / d + 8.5)).
    public static func q4_0(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer) {
        let blocks = src.count / 32
        precondition(src.count % 32 == 0 && dst.count == blocks * 18, "Q4_0: size mismatch")
        for b in 0 ..< blocks {
            let x = 32 * b
            var amax: Float = 0
            var extreme: Float = 0
            for j in 0 ..< 32 where abs(src[x + j]) > amax {
                amax = abs(src[x + j])
                extreme = src[x + j]
            }
            let d = extreme / -8
            let id: Float = d != 0 ? 1 / d : 0
            let base = 18 * b
            storeHalf(d, dst, base)
            for j in 0 ..< 16 {
                let low = quantizeNibble(src[x + j] * id + 8.5)
                let high = quantizeNibble(src[x + j + 16] * id + 8.5)
                dst[base + 2 + j] = low | (high << 4)
            }
        }
    }

    /// Q4_1: d = (max - min) / 15, m = min, q = min(15, trunc((x - min) / d + 0.5)).
    public static func q4_1(_ src: UnsafeBufferPointer<Float>, into dst: UnsafeMutableRawBufferPointer) {
        let blocks = src.count / 32
        precondition(src.count % 32 == 0 && dst.count == blocks * 20, "Q4_1: size mismatch")
        for b in 0 ..< blocks {
            let x = 32 * b
            var lo = Float.greatestFiniteMagnitude
            var hi = -Float.greatestFiniteMagnitude
            for j in 0 ..< 32 {
                lo = min(lo, src[x + j])
                hi = max(hi, src[x + j])
            }
            let d = (hi - lo) / 15
            let id: Float = d != 0 ? 1 / d : 0
            let base = 20 * b
            storeHalf(d, dst, base)
            storeHalf(lo, dst, base + 2)
            for j in 0 ..< 16 {
                let low = quantizeNibble((src[x + j] - lo) * id + 0.5)
                let high = quantizeNibble((src[x + j + 16] - lo) * id + 0.5)
                dst[base + 4 + j] = low | (high << 4)
            }
        }
    }

    /// Truncation toward zero clamped to 0...15 (NaN gives 0).
    @inline(__always)
    static func quantizeNibble(_ v: Float) -> UInt8 {
        guard v > 0 else { return 0 }
        return v >= 15 ? 15 : UInt8(v)
    }
}
