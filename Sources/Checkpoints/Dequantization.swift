// Dequantization kernels: ggml block formats and plain float types -> Float32, on unsafe buffers,
// following ggml's reference functions (and gguf-py's numpy ones) operation for operation so the
// results are bit-identical. Sizes are checked by the caller; a mismatch here is a programmer error.

import Foundation
import Tensors

/// Converts raw ggml tensor bytes to Float32.
public enum Dequantization {
    /// Dequantizes `src` (whole blocks of `type`) into `dst`.
    /// - Returns: false if `type` is not one this module converts.
    @discardableResult
    public static func dequantize(_ type: GGMLType, _ src: UnsafeRawBufferPointer,
                                  into dst: UnsafeMutableBufferPointer<Float>) -> Bool {
        switch type {
        case .f32: f32(src, into: dst)
        case .f16: f16(src, into: dst)
        case .bf16: bf16(src, into: dst)
        case .f64: f64(src, into: dst)
        case .q8_0: q8_0(src, into: dst)
        case .q4_0: q4_0(src, into: dst)
        case .q4_1: q4_1(src, into: dst)
        case .q5_0: q5_0(src, into: dst)
        case .q5_1: q5_1(src, into: dst)
        case .q4_K: q4_K(src, into: dst)
        case .q5_K: q5_K(src, into: dst)
        case .q6_K: q6_K(src, into: dst)
        default: return false
        }
        return true
    }

    @inline(__always)
    static func half(_ src: UnsafeRawBufferPointer, _ offset: Int) -> Float {
        HalfPrecision.floatFromHalf(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
    }

    /// Little-endian binary32.
    public static func f32(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(src.count == dst.count * 4, "F32: byte count does not match element count")
        for i in 0 ..< dst.count {
            dst[i] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
        }
    }

    /// Little-endian binary64, rounded to nearest Float32.
    public static func f64(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(src.count == dst.count * 8, "F64: byte count does not match element count")
        for i in 0 ..< dst.count {
            dst[i] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))))
        }
    }

    /// Little-endian IEEE binary16.
    public static func f16(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(src.count == dst.count * 2, "F16: byte count does not match element count")
        for i in 0 ..< dst.count { dst[i] = half(src, 2 * i) }
    }

    /// Little-endian bfloat16.
    public static func bf16(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        precondition(src.count == dst.count * 2, "BF16: byte count does not match element count")
        for i in 0 ..< dst.count {
            dst[i] = HalfPrecision.floatFromBFloat16(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
        }
    }

    /// Q8_0 blocks (34 bytes: d f16, 32 × i8): y = q · d.
    public static func q8_0(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        let blocks = dst.count / 32
        precondition(dst.count % 32 == 0 && src.count == blocks * 34, "Q8_0: size mismatch")
        for b in 0 ..< blocks {
            let base = 34 * b
            let d = half(src, base)
            let out = 32 * b
            for j in 0 ..< 32 {
                dst[out + j] = Float(Int8(bitPattern: src[base + 2 + j])) * d
            }
        }
    }

    /// Q4_0 blocks (18 bytes: d f16, 16 bytes of nibbles; low nibbles are elements 0–15).
    public static func q4_0(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        let blocks = dst.count / 32
        precondition(dst.count % 32 == 0 && src.count == blocks * 18, "Q4_0: size mismatch")
        for b in 0 ..< blocks {
            let base = 18 * b
            let d = half(src, base)
            let out = 32 * b
            for j in 0 ..< 16 {
                let q = src[base + 2 + j]
                dst[out + j] = Float(Int(q & 0x0F) - 8) * d
                dst[out + j + 16] = Float(Int(q >> 4) - 8) * d
            }
        }
    }

    /// Q4_1 blocks (20 bytes: d f16, m f16, 16 bytes of nibbles): y = q · d + m.
    public static func q4_1(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        let blocks = dst.count / 32
        precondition(dst.count % 32 == 0 && src.count == blocks * 20, "Q4_1: size mismatch")
        for b in 0 ..< blocks {
            let base = 20 * b
            let d = half(src, base)
            let m = half(src, base + 2)
            let out = 32 * b
            for j in 0 ..< 16 {
                let q = src[base + 4 + j]
                // Two separately rounded operations, as the reference (no fused multiply-add).
                let low = Float(q & 0x0F) * d
                let high = Float(q >> 4) * d
                dst[out + j] = low + m
                dst[out + j + 16] = high + m
            }
        }
    }

    /// Q5_0 blocks (22 bytes: d f16, qh u32, 16 bytes of nibbles): y = (q - 16) · d, where bit j of
    /// qh is the fifth bit of element j and the nibbles are laid out as in Q4_0.
    public static func q5_0(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        let blocks = dst.count / 32
        precondition(dst.count % 32 == 0 && src.count == blocks * 22, "Q5_0: size mismatch")
        for b in 0 ..< blocks {
            let base = 22 * b
            let d = half(src, base)
            let qh = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: base + 2, as: UInt32.self))
            let out = 32 * b
            for j in 0 ..< 16 {
                let q = src[base + 6 + j]
                let low = (q & 0x0F) | UInt8(truncatingIfNeeded: (qh >> j) & 1) << 4
                let high = (q >> 4) | UInt8(truncatingIfNeeded: (qh >> (j + 16)) & 1) << 4
                dst[out + j] = Float(Int(low) - 16) * d
                dst[out + j + 16] = Float(Int(high) - 16) * d
            }
        }
    }

    /// Q5_1 blocks (24 bytes: d f16, m f16, qh u32, 16 bytes of nibbles): y = q · d + m, with q's
    /// fifth bits in qh as in Q5_0.
    public static func q5_1(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        let blocks = dst.count / 32
        precondition(dst.count % 32 == 0 && src.count == blocks * 24, "Q5_1: size mismatch")
        for b in 0 ..< blocks {
            let base = 24 * b
            let d = half(src, base)
            let m = half(src, base + 2)
            let qh = UInt32(littleEndian: src.loadUnaligned(fromByteOffset: base + 4, as: UInt32.self))
            let out = 32 * b
            for j in 0 ..< 16 {
                let q = src[base + 8 + j]
                let low = (q & 0x0F) | UInt8(truncatingIfNeeded: (qh >> j) & 1) << 4
                let high = (q >> 4) | UInt8(truncatingIfNeeded: (qh >> (j + 16)) & 1) << 4
                // Two separately rounded operations, as the reference (no fused multiply-add).
                let lowScaled = Float(low) * d
                let highScaled = Float(high) * d
                dst[out + j] = lowScaled + m
                dst[out + j + 16] = highScaled + m
            }
        }
    }

    /// The six-bit scale and min of sub-block `j` of a Q4_K block whose 12 scale bytes start at `s`.
    @inline(__always)
    static func q4KScaleMin(_ src: UnsafeRawBufferPointer, _ s: Int, _ j: Int) -> (Float, Float) {
        if j < 4 {
            return (Float(src[s + j] & 63), Float(src[s + j + 4] & 63))
        }
        let sc = (src[s + j + 4] & 0x0F) | ((src[s + j - 4] >> 6) << 4)
        let m = (src[s + j + 4] >> 4) | ((src[s + j] >> 6) << 4)
        return (Float(sc), Float(m))
    }

    /// Q4_K super-blocks (144 bytes, 256 elements in 8 sub-blocks with six-bit scales and mins).
    public static func q4_K(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        let blocks = dst.count / 256
        precondition(dst.count % 256 == 0 && src.count == blocks * 144, "Q4_K: size mismatch")
        for b in 0 ..< blocks {
            let base = 144 * b
            let d = half(src, base)
            let dmin = half(src, base + 2)
            let scales = base + 4
            let qs = base + 16
            let out = 256 * b
            for c in 0 ..< 4 {
                let (sc1, m1) = q4KScaleMin(src, scales, 2 * c)
                let (sc2, m2) = q4KScaleMin(src, scales, 2 * c + 1)
                let d1 = d * sc1, dm1 = dmin * m1
                let d2 = d * sc2, dm2 = dmin * m2
                for l in 0 ..< 32 {
                    let q = src[qs + 32 * c + l]
                    let low = d1 * Float(q & 0x0F)
                    let high = d2 * Float(q >> 4)
                    dst[out + 64 * c + l] = low - dm1
                    dst[out + 64 * c + 32 + l] = high - dm2
                }
            }
        }
    }

    /// Q5_K super-blocks (176 bytes: d f16, dmin f16, 12 scale bytes packed as in Q4_K, qh u8[32],
    /// qs u8[128]). Nibbles are laid out as in Q4_K; bit i of qh[l] is the fifth bit of element 32i + l.
    public static func q5_K(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        let blocks = dst.count / 256
        precondition(dst.count % 256 == 0 && src.count == blocks * 176, "Q5_K: size mismatch")
        for b in 0 ..< blocks {
            let base = 176 * b
            let d = half(src, base)
            let dmin = half(src, base + 2)
            let scales = base + 4
            let qh = base + 16
            let qs = base + 48
            let out = 256 * b
            for c in 0 ..< 4 {
                let (sc1, m1) = q4KScaleMin(src, scales, 2 * c)
                let (sc2, m2) = q4KScaleMin(src, scales, 2 * c + 1)
                let d1 = d * sc1, dm1 = dmin * m1
                let d2 = d * sc2, dm2 = dmin * m2
                for l in 0 ..< 32 {
                    let q = src[qs + 32 * c + l]
                    let h = src[qh + l]
                    let q1 = (q & 0x0F) | ((h >> (2 * c)) & 1) << 4
                    let q2 = (q >> 4) | ((h >> (2 * c + 1)) & 1) << 4
                    let low = d1 * Float(q1)
                    let high = d2 * Float(q2)
                    dst[out + 64 * c + l] = low - dm1
                    dst[out + 64 * c + 32 + l] = high - dm2
                }
            }
        }
    }

    /// Q6_K super-blocks (210 bytes: 128 low-nibble bytes, 64 high-bit bytes, 16 i8 scales, d f16).
    public static func q6_K(_ src: UnsafeRawBufferPointer, into dst: UnsafeMutableBufferPointer<Float>) {
        let blocks = dst.count / 256
        precondition(dst.count % 256 == 0 && src.count == blocks * 210, "Q6_K: size mismatch")
        for b in 0 ..< blocks {
            let base = 210 * b
            let d = half(src, base + 208)
            for h in 0 ..< 2 {
                let ql = base + 64 * h
                let qh = base + 128 + 32 * h
                let sc = base + 192 + 8 * h
                let out = 256 * b + 128 * h
                for l in 0 ..< 32 {
                    let i = l / 16
                    let high = src[qh + l]
                    let q1 = Int((src[ql + l] & 0x0F) | ((high & 3) << 4)) - 32
                    let q2 = Int((src[ql + l + 32] & 0x0F) | (((high >> 2) & 3) << 4)) - 32
                    let q3 = Int((src[ql + l] >> 4) | (((high >> 4) & 3) << 4)) - 32
                    let q4 = Int((src[ql + l + 32] >> 4) | (((high >> 6) & 3) << 4)) - 32
                    dst[out + l] = (d * Float(Int8(bitPattern: src[sc + i]))) * Float(q1)
                    dst[out + l + 32] = (d * Float(Int8(bitPattern: src[sc + i + 2]))) * Float(q2)
                    dst[out + l + 64] = (d * Float(Int8(bitPattern: src[sc + i + 4]))) * Float(q3)
                    dst[out + l + 96] = (d * Float(Int8(bitPattern: src[sc + i + 6]))) * Float(q4)
                }
            }
        }
    }
}

import Dispatch

extension Dequantization {
    /// `dequantize`, split into whole-block chunks over the available cores for large tensors.
    static func dequantizeInParallel(_ type: GGMLType, _ src: UnsafeRawBufferPointer,
                                     into dst: UnsafeMutableBufferPointer<Float>) {
        let blocks = dst.count / type.blockSize
        let chunkCount = min(ProcessInfo.processInfo.activeProcessorCount, max(1, dst.count / (1 << 20)))
        guard chunkCount > 1, let start = dst.baseAddress else {
            dequantize(type, src, into: dst)
            return
        }
        let blocksPerChunk = (blocks + chunkCount - 1) / chunkCount
        // Each chunk writes a disjoint range of `dst` and only reads `src`.
        nonisolated(unsafe) let src = src
        nonisolated(unsafe) let base = start
        DispatchQueue.concurrentPerform(iterations: chunkCount) { chunk in
            let firstBlock = chunk * blocksPerChunk
            let lastBlock = min(blocks, firstBlock + blocksPerChunk)
            guard firstBlock < lastBlock else { return }
            let input = UnsafeRawBufferPointer(rebasing: src[firstBlock * type.typeSize ..< lastBlock * type.typeSize])
            let output = UnsafeMutableBufferPointer(start: base + firstBlock * type.blockSize,
                                                    count: (lastBlock - firstBlock) * type.blockSize)
            dequantize(type, input, into: output)
        }
    }
}
