// The kernels Gemma-3 needs beyond the shared ones: causal attention restricted to a sliding
// window, and the GeGLU MLP activation (tanh-approximation GELU of the gate times the up
// projection). The backward pass of windowed attention is the shared `attentionBackward`: the
// probabilities outside the window are exactly zero, so its formulas give the right gradients.
// Dimension letters as in Attention.swift: Tq query rows, Tk key rows, NH, NKV heads, HS head size.
import Foundation
import Tensors

// MARK: - Sliding-window causal attention

/// out (Tq, NH·HS) and probs (NH, Tq, Tk) from q (Tq, NH·HS), k and v (Tk, NKV·HS), as
/// `attentionForward`, but query i (at position Tk − Tq + i) attends only to the `window` keys
/// ending at its own position (transformers' sliding mask: q_pos − k_pos < window).
@_specialize(where S == Float)
@_specialize(where S == Double)
func slidingAttentionForward<S: RuntimeScalar>(
    _ out: UnsafeMutablePointer<S>, _ probs: UnsafeMutablePointer<S>,
    _ q: UnsafePointer<S>, _ k: UnsafePointer<S>, _ v: UnsafePointer<S>,
    _ Tq: Int, _ Tk: Int, _ NH: Int, _ NKV: Int, _ HS: Int, window: Int
) {
    if Tq == 0 { return }
    let group = NH / NKV
    let past = Tk - Tq
    let scale = 1 / S(HS).squareRoot()
    for h in 0..<NH {
        let kvh = h / group
        let p = probs + h * Tq * Tk
        // scores (Tq, Tk) = scale · q_h k_hᵀ
        S.gemm(transposeA: false, transposeB: true, m: Tq, n: Tk, k: HS, alpha: scale,
               a: q + h * HS, lda: NH * HS, b: k + kvh * HS, ldb: NKV * HS, beta: 0, c: p, ldc: Tk)
        for i in 0..<Tq {
            let row = p + i * Tk
            let last = past + i
            let first = max(0, last - window + 1)
            var maxValue = row[first]
            for j in first...last where row[j] > maxValue { maxValue = row[j] }
            var sum: S = 0
            for j in first...last {
                let e = S.exp(row[j] - maxValue)
                row[j] = e
                sum += e
            }
            let inv = 1 / sum
            for j in 0..<first { row[j] = 0 }
            for j in first...last { row[j] *= inv }
            for j in (last + 1)..<Tk { row[j] = 0 }
        }
        // out_h (Tq, HS) = probs_h · v_h
        S.gemm(transposeA: false, transposeB: false, m: Tq, n: HS, k: Tk, alpha: 1,
               a: p, lda: Tk, b: v + kvh * HS, ldb: NKV * HS, beta: 0, c: out + h * HS, ldc: NH * HS)
    }
}

/// Reference for `slidingAttentionForward`: explicit loops, no BLAS (out only).
func slidingAttentionForwardNaive<S: RuntimeScalar>(
    _ out: UnsafeMutablePointer<S>, _ q: UnsafePointer<S>, _ k: UnsafePointer<S>, _ v: UnsafePointer<S>,
    _ Tq: Int, _ Tk: Int, _ NH: Int, _ NKV: Int, _ HS: Int, window: Int
) {
    let group = NH / NKV
    let past = Tk - Tq
    let scale = 1 / S(HS).squareRoot()
    var weights = [S](repeating: 0, count: Tk)
    for h in 0..<NH {
        let kvh = h / group
        for i in 0..<Tq {
            let keys = max(0, past + i - window + 1)...(past + i)
            var maxValue = -S.infinity
            for j in keys {
                var s: S = 0
                for d in 0..<HS { s += q[i * NH * HS + h * HS + d] * k[j * NKV * HS + kvh * HS + d] }
                weights[j] = s * scale
                maxValue = max(maxValue, weights[j])
            }
            var sum: S = 0
            for j in keys {
                weights[j] = S.exp(weights[j] - maxValue)
                sum += weights[j]
            }
            for d in 0..<HS {
                var acc: S = 0
                for j in keys { acc += weights[j] / sum * v[j * NKV * HS + kvh * HS + d] }
                out[i * NH * HS + h * HS + d] = acc
            }
        }
    }
}

/// `attentionSegmentsForward` with a sliding window: prompt by prompt, appending the new keys
/// and values to the cache of `layer` first when there is one. Cached rows start at each
/// sequence's position 0, so key index = position.
func slidingAttentionSegmentsForward<S: RuntimeScalar>(
    _ acts: BlockActivations<S>, _ context: ForwardContext<S>, layer: Int, configuration: ModelConfiguration,
    window: Int
) {
    let HS = configuration.headDimension, NH = configuration.headCount, NKV = configuration.keyValueHeadCount
    let KVW = NKV * HS
    for (s, segment) in context.segments.enumerated() {
        let Tq = segment.count
        let Tk = context.keyRowCount(segment: s)
        var k = acts.k.pointer + segment.lowerBound * KVW
        var v = acts.v.pointer + segment.lowerBound * KVW
        if let cache = context.cache {
            let first = context.cacheStarts[s]
            let append = (first + context.cacheLengths[s]) * KVW
            precondition(first + Tk <= cache.capacity, "KV cache of \(cache.capacity) rows overflows")
            (cache.keys[layer].pointer + append).update(from: k, count: Tq * KVW)
            (cache.values[layer].pointer + append).update(from: v, count: Tq * KVW)
            k = cache.keys[layer].pointer + first * KVW
            v = cache.values[layer].pointer + first * KVW
        }
        slidingAttentionForward(acts.attn.pointer + segment.lowerBound * NH * HS, acts.probs.pointer + acts.probOffsets[s],
                                acts.q.pointer + segment.lowerBound * NH * HS, k, v, Tq, Tk, NH, NKV, HS, window: window)
    }
}

// MARK: - GeGLU: out = gelu_tanh(gate) ⊙ up

/// out (N) from gate (N), up (N); GELU as transformers' gelu_pytorch_tanh.
@_specialize(where S == Float)
@_specialize(where S == Double)
func gegluForward<S: RuntimeScalar>(
    _ out: UnsafeMutablePointer<S>, _ gate: UnsafePointer<S>, _ up: UnsafePointer<S>, _ N: Int
) {
    let s = S(0.7978845608028654)  // √(2/π)
    let a = S(0.044715)
    for i in 0..<N {
        let x = gate[i]
        out[i] = S(0.5) * x * (1 + S.tanh(s * (x + a * x * x * x))) * up[i]
    }
}

/// dgate (N) = and dup (N) = the gradients of Σ dout ⊙ out.
@_specialize(where S == Float)
@_specialize(where S == Double)
func gegluBackward<S: RuntimeScalar>(
    _ dgate: UnsafeMutablePointer<S>, _ dup: UnsafeMutablePointer<S>, _ dout: UnsafePointer<S>,
    _ gate: UnsafePointer<S>, _ up: UnsafePointer<S>, _ N: Int
) {
    let s = S(0.7978845608028654)
    let a = S(0.044715)
    for i in 0..<N {
        let x = gate[i]
        let th = S.tanh(s * (x + a * x * x * x))
        let gelu = S(0.5) * x * (1 + th)
        let slope = S(0.5) * (1 + th) + S(0.5) * x * (1 - th * th) * s * (1 + 3 * a * x * x)
        dup[i] = dout[i] * gelu
        dgate[i] = dout[i] * up[i] * slope
    }
}
