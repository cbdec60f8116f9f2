// Rotary position embedding (rotate-half convention, as Hugging Face Llama) and causal
// multi-head attention with grouped-query heads, forward and input-gradient backward.
// Attention runs on one prompt at a time (the caller passes each prompt's rows); scores and
// weighted sums go through BLAS with row strides, so heads are never copied out.
// Dimension letters: Tq query rows, Tk key rows (the queries are the last Tq of them),
// NH query heads, NKV key/value heads (NH a multiple of NKV), HS head size.
import Foundation
import Tensors

// MARK: - RoPE

/// cos, sin (T, HS/2) for the absolute positions of T rows: angle = position · θ^(−2i/HS).
@_specialize(where S == Float)
@_specialize(where S == Double)
func ropeTables<S: RuntimeScalar>(
    _ cos: UnsafeMutablePointer<S>, _ sin: UnsafeMutablePointer<S>, positions: [Int], HS: Int, theta: Double
) {
    ropeTables(cos, sin, positions: positions, inverseFrequencies: ropeInverseFrequencies(dimensions: HS, theta: theta, scaling: nil))
}

/// cos, sin (T, F) for the absolute positions of T rows and F inverse frequencies.
@_specialize(where S == Float)
@_specialize(where S == Double)
func ropeTables<S: RuntimeScalar>(
    _ cos: UnsafeMutablePointer<S>, _ sin: UnsafeMutablePointer<S>, positions: [Int], inverseFrequencies: [Double]
) {
    let half = inverseFrequencies.count
    for (t, position) in positions.enumerated() {
        for (i, inverseFrequency) in inverseFrequencies.enumerated() {
            let angle = Double(position) * inverseFrequency
            cos[t * half + i] = S(Foundation.cos(angle))
            sin[t * half + i] = S(Foundation.sin(angle))
        }
    }
}

/// θ^(−2i/D) for the D rotated dimensions (i < D/2), adjusted by Llama-3 scaling: long
/// wavelengths slowed by the factor, short ones kept, the band between blended linearly in
/// original context / wavelength; or each divided by llama.cpp's stored divisor.
func ropeInverseFrequencies(dimensions D: Int, theta: Double, scaling: RopeScaling?) -> [Double] {
    let plain = (0..<(D / 2)).map { 1 / Foundation.pow(theta, Double(2 * $0) / Double(D)) }
    switch scaling {
    case nil:
        return plain
    case let .frequencyDivisors(divisors):
        precondition(divisors.count == plain.count, "\(divisors.count) RoPE frequency divisors for \(plain.count) frequencies")
        return zip(plain, divisors).map { $0 / Double($1) }
    case let .llama3(scaling):
        let original = Double(scaling.originalContextLength)
        let longest = original / scaling.lowFrequencyFactor    // wavelengths above: fully scaled
        let shortest = original / scaling.highFrequencyFactor  // wavelengths below: unchanged
        return plain.map { frequency in
            let wavelength = 2 * Double.pi / frequency
            if wavelength > longest { return frequency / scaling.factor }
            if wavelength < shortest { return frequency }
            let smooth = (original / wavelength - scaling.lowFrequencyFactor)
                / (scaling.highFrequencyFactor - scaling.lowFrequencyFactor)
            return (1 - smooth) * frequency / scaling.factor + smooth * frequency
        }
    }
}

/// x (T, NHx·HS) rotated in place, each head's pairs (i, i + R/2) by its row's angles, where R
/// (`rotated`, default HS) is how many leading dimensions of a head rotate; cos, sin are (T, R/2).
@_specialize(where S == Float)
@_specialize(where S == Double)
func ropeForward<S: RuntimeScalar>(
    _ x: UnsafeMutablePointer<S>, _ cos: UnsafePointer<S>, _ sin: UnsafePointer<S>, _ T: Int, _ NHx: Int, _ HS: Int,
    rotated: Int? = nil
) {
    let half = (rotated ?? HS) / 2
    for t in 0..<T {
        for h in 0..<NHx {
            let v = x + (t * NHx + h) * HS
            for i in 0..<half {
                let c = cos[t * half + i], s = sin[t * half + i]
                let a = v[i], b = v[i + half]
                v[i] = a * c - b * s
                v[i + half] = b * c + a * s
            }
        }
    }
}

/// dx (T, NHx·HS) in place: the gradient through `ropeForward` is the inverse rotation.
@_specialize(where S == Float)
@_specialize(where S == Double)
func ropeBackward<S: RuntimeScalar>(
    _ dx: UnsafeMutablePointer<S>, _ cos: UnsafePointer<S>, _ sin: UnsafePointer<S>, _ T: Int, _ NHx: Int, _ HS: Int,
    rotated: Int? = nil
) {
    let half = (rotated ?? HS) / 2
    for t in 0..<T {
        for h in 0..<NHx {
            let v = dx + (t * NHx + h) * HS
            for i in 0..<half {
                let c = cos[t * half + i], s = sin[t * half + i]
                let a = v[i], b = v[i + half]
                v[i] = a * c + b * s
                v[i + half] = b * c - a * s
            }
        }
    }
}

// MARK: - Causal attention

/// out (Tq, NH·HS) and probs (NH, Tq, Tk) from q (Tq, NH·HS), k and v (Tk, NKV·HS).
/// Query i sits at position p = Tk − Tq + i and attends to keys 0…p, or with a sliding window W
/// to keys p − W + 1…p only. The probabilities of masked keys are 0, so the backward pass needs
/// no mask of its own.
@_specialize(where S == Float)
@_specialize(where S == Double)
func attentionForward<S: RuntimeScalar>(
    _ out: UnsafeMutablePointer<S>, _ probs: UnsafeMutablePointer<S>,
    _ q: UnsafePointer<S>, _ k: UnsafePointer<S>, _ v: UnsafePointer<S>,
    _ Tq: Int, _ Tk: Int, _ NH: Int, _ NKV: Int, _ HS: Int, window: Int? = nil
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
            let first = window.map { max(0, last - $0 + 1) } ?? 0
            var maxValue = row[first]
            for j in first...last where row[j] > maxValue { maxValue = row[j] }
            var sum: S = 0
            for j in first...last {
                let e = S.exp(row[j] - maxValue)
                row[j] = e
                sum += e
            }
            let inv = 1 / sum
            for j in first...last { row[j] *= inv }
            for j in 0..<first { row[j] = 0 }
            for j in (last + 1)..<Tk { row[j] = 0 }
        }
        // out_h (Tq, HS) = probs_h · v_h
        S.gemm(transposeA: false, transposeB: false, m: Tq, n: HS, k: Tk, alpha: 1,
               a: p, lda: Tk, b: v + kvh * HS, ldb: NKV * HS, beta: 0, c: out + h * HS, ldc: NH * HS)
    }
}

/// dq (Tq, NH·HS) = , dk and dv (Tk, NKV·HS) += the gradients of Σ dout ⊙ out;
/// dprobs (Tq, Tk) is scratch.
@_specialize(where S == Float)
@_specialize(where S == Double)
func attentionBackward<S: RuntimeScalar>(
    _ dq: UnsafeMutablePointer<S>, _ dk: UnsafeMutablePointer<S>, _ dv: UnsafeMutablePointer<S>,
    _ dprobs: UnsafeMutablePointer<S>, _ dout: UnsafePointer<S>, _ probs: UnsafePointer<S>,
    _ q: UnsafePointer<S>, _ k: UnsafePointer<S>, _ v: UnsafePointer<S>,
    _ Tq: Int, _ Tk: Int, _ NH: Int, _ NKV: Int, _ HS: Int
) {
    if Tq == 0 { return }
    let group = NH / NKV
    let scale = 1 / S(HS).squareRoot()
    for h in 0..<NH {
        let kvh = h / group
        let p = probs + h * Tq * Tk
        // dprobs (Tq, Tk) = dout_h · v_hᵀ
        S.gemm(transposeA: false, transposeB: true, m: Tq, n: Tk, k: HS, alpha: 1,
               a: dout + h * HS, lda: NH * HS, b: v + kvh * HS, ldb: NKV * HS, beta: 0, c: dprobs, ldc: Tk)
        // dv_h (Tk, HS) += probs_hᵀ · dout_h
        S.gemm(transposeA: true, transposeB: false, m: Tk, n: HS, k: Tq, alpha: 1,
               a: p, lda: Tk, b: dout + h * HS, ldb: NH * HS, beta: 1, c: dv + kvh * HS, ldc: NKV * HS)
        // dscores = probs ⊙ (dprobs − Σ_j probs ⊙ dprobs), in place in dprobs
        for i in 0..<Tq {
            let pr = p + i * Tk
            let dr = dprobs + i * Tk
            var dot: S = 0
            for j in 0..<Tk { dot += pr[j] * dr[j] }
            for j in 0..<Tk { dr[j] = pr[j] * (dr[j] - dot) }
        }
        // dq_h (Tq, HS) = scale · dscores · k_h ;  dk_h (Tk, HS) += scale · dscoresᵀ · q_h
        S.gemm(transposeA: false, transposeB: false, m: Tq, n: HS, k: Tk, alpha: scale,
               a: dprobs, lda: Tk, b: k + kvh * HS, ldb: NKV * HS, beta: 0, c: dq + h * HS, ldc: NH * HS)
        S.gemm(transposeA: true, transposeB: false, m: Tk, n: HS, k: Tq, alpha: scale,
               a: dprobs, lda: Tk, b: q + h * HS, ldb: NH * HS, beta: 1, c: dk + kvh * HS, ldc: NKV * HS)
    }
}

/// Reference for `attentionForward`: explicit loops, no BLAS (out only).
@_specialize(where S == Float)
@_specialize(where S == Double)
func attentionForwardNaive<S: RuntimeScalar>(
    _ out: UnsafeMutablePointer<S>, _ q: UnsafePointer<S>, _ k: UnsafePointer<S>, _ v: UnsafePointer<S>,
    _ Tq: Int, _ Tk: Int, _ NH: Int, _ NKV: Int, _ HS: Int
) {
    let group = NH / NKV
    let past = Tk - Tq
    let scale = 1 / S(HS).squareRoot()
    var weights = [S](repeating: 0, count: Tk)
    for h in 0..<NH {
        let kvh = h / group
        for i in 0..<Tq {
            var maxValue = -S.infinity
            for j in 0...(past + i) {
                var s: S = 0
                for d in 0..<HS { s += q[i * NH * HS + h * HS + d] * k[j * NKV * HS + kvh * HS + d] }
                weights[j] = s * scale
                maxValue = max(maxValue, weights[j])
            }
            var sum: S = 0
            for j in 0...(past + i) {
                weights[j] = S.exp(weights[j] - maxValue)
                sum += weights[j]
            }
            for d in 0..<HS {
                var acc: S = 0
                for j in 0...(past + i) { acc += weights[j] / sum * v[j * NKV * HS + kvh * HS + d] }
                out[i * NH * HS + h * HS + d] = acc
            }
        }
    }
}
