// Layer kernels shared by the Llama and GPT-2 blocks, as forward/backward pairs on raw buffers
// (llm.c style: outputs first, then inputs, weights, dimensions). Backward kernels compute input
// gradients only: editing never needs weight gradients. Attention and RoPE are in Attention.swift.
// Dimension letters: T rows (tokens of all prompts, packed), C d_model, F d_ff, OC any output width.
import Foundation
import Tensors

// MARK: - Matmul (y = W x per row, W row-major OC × C)

/// out (T, OC) = inp (T, C) · weightᵀ + bias (OC).
@_specialize(where S == Float)
@_specialize(where S == Double)
func matmulForward<S: RuntimeScalar>(
    _ out: UnsafeMutablePointer<S>, _ inp: UnsafePointer<S>, _ weight: UnsafePointer<S>,
    _ bias: UnsafePointer<S>?, _ T: Int, _ C: Int, _ OC: Int
) {
    if T == 0 || OC == 0 { return }
    if T == 1 {
        // One row: a matrix-vector product streams the weight once, without GEMM's packing.
        S.gemv(transpose: false, m: OC, n: C, alpha: 1, a: weight, lda: C, x: inp, beta: 0, y: out)
    } else {
        S.gemm(transposeA: false, transposeB: true, m: T, n: OC, k: C, alpha: 1, a: inp, lda: C,
               b: weight, ldb: C, beta: 0, c: out, ldc: OC)
    }
    if let bias {
        for t in 0..<T {
            let row = out + t * OC
            for o in 0..<OC { row[o] += bias[o] }
        }
    }
}

/// dinp (T, C) = (or += when `accumulate`) dout (T, OC) · weight (OC, C).
@_specialize(where S == Float)
@_specialize(where S == Double)
func matmulBackward<S: RuntimeScalar>(
    _ dinp: UnsafeMutablePointer<S>, _ dout: UnsafePointer<S>, _ weight: UnsafePointer<S>,
    _ T: Int, _ C: Int, _ OC: Int, accumulate: Bool
) {
    if T == 0 || C == 0 { return }
    if T == 1 {
        S.gemv(transpose: true, m: OC, n: C, alpha: 1, a: weight, lda: C, x: dout, beta: accumulate ? 1 : 0, y: dinp)
    } else {
        S.gemm(transposeA: false, transposeB: false, m: T, n: C, k: OC, alpha: 1, a: dout, lda: OC,
               b: weight, ldb: C, beta: accumulate ? 1 : 0, c: dinp, ldc: C)
    }
}

/// Reference for `matmulForward`: the plain triple loop.
@_specialize(where S == Float)
@_specialize(where S == Double)
func matmulForwardNaive<S: RuntimeScalar>(
    _ out: UnsafeMutablePointer<S>, _ inp: UnsafePointer<S>, _ weight: UnsafePointer<S>,
    _ bias: UnsafePointer<S>?, _ T: Int, _ C: Int, _ OC: Int
) {
    for t in 0..<T {
        for o in 0..<OC {
            var sum: S = bias?[o] ?? 0
            for c in 0..<C { sum += inp[t * C + c] * weight[o * C + c] }
            out[t * OC + o] = sum
        }
    }
}

// MARK: - RMSNorm (Llama): out = weight ⊙ x / sqrt(mean(x²) + eps)

/// out (T, C), rstd (T), from inp (T, C) and weight (C).
@_specialize(where S == Float)
@_specialize(where S == Double)
func rmsnormForward<S: RuntimeScalar>(
    _ out: UnsafeMutablePointer<S>, _ rstd: UnsafeMutablePointer<S>, _ inp: UnsafePointer<S>,
    _ weight: UnsafePointer<S>, _ T: Int, _ C: Int, eps: S
) {
    for t in 0..<T {
        let x = inp + t * C
        let y = out + t * C
        var ss: S = 0
        for c in 0..<C { ss += x[c] * x[c] }
        let r = 1 / (ss / S(C) + eps).squareRoot()
        rstd[t] = r
        for c in 0..<C { y[c] = weight[c] * (x[c] * r) }
    }
}

/// dinp (T, C) += ∂/∂inp of Σ dout ⊙ out.
@_specialize(where S == Float)
@_specialize(where S == Double)
func rmsnormBackward<S: RuntimeScalar>(
    _ dinp: UnsafeMutablePointer<S>, _ dout: UnsafePointer<S>, _ inp: UnsafePointer<S>,
    _ weight: UnsafePointer<S>, _ rstd: UnsafePointer<S>, _ T: Int, _ C: Int
) {
    for t in 0..<T {
        let x = inp + t * C
        let dy = dout + t * C
        let dx = dinp + t * C
        let r = rstd[t]
        var dot: S = 0
        for c in 0..<C { dot += weight[c] * dy[c] * x[c] }
        let k = dot * r * r * r / S(C)
        for c in 0..<C { dx[c] += weight[c] * dy[c] * r - k * x[c] }
    }
}

// MARK: - LayerNorm (GPT-2): out = weight ⊙ (x − mean) / sqrt(var + eps) + bias

/// out (T, C), mean (T), rstd (T), from inp (T, C), weight (C), bias (C).
@_specialize(where S == Float)
@_specialize(where S == Double)
func layernormForward<S: RuntimeScalar>(
    _ out: UnsafeMutablePointer<S>, _ mean: UnsafeMutablePointer<S>, _ rstd: UnsafeMutablePointer<S>,
    _ inp: UnsafePointer<S>, _ weight: UnsafePointer<S>, _ bias: UnsafePointer<S>,
    _ T: Int, _ C: Int, eps: S
) {
    for t in 0..<T {
        let x = inp + t * C
        let y = out + t * C
        var m: S = 0
        for c in 0..<C { m += x[c] }
        m /= S(C)
        var v: S = 0
        for c in 0..<C { v += (x[c] - m) * (x[c] - m) }
        v /= S(C)
        let r = 1 / (v + eps).squareRoot()
        mean[t] = m
        rstd[t] = r
        for c in 0..<C { y[c] = (x[c] - m) * r * weight[c] + bias[c] }
    }
}

/// dinp (T, C) += ∂/∂inp of Σ dout ⊙ out.
@_specialize(where S == Float)
@_specialize(where S == Double)
func layernormBackward<S: RuntimeScalar>(
    _ dinp: UnsafeMutablePointer<S>, _ dout: UnsafePointer<S>, _ inp: UnsafePointer<S>,
    _ weight: UnsafePointer<S>, _ mean: UnsafePointer<S>, _ rstd: UnsafePointer<S>, _ T: Int, _ C: Int
) {
    for t in 0..<T {
        let x = inp + t * C
        let dy = dout + t * C
        let dx = dinp + t * C
        let m = mean[t]
        let r = rstd[t]
        var dnormMean: S = 0
        var dnormNormMean: S = 0
        for c in 0..<C {
            let dnorm = weight[c] * dy[c]
            dnormMean += dnorm
            dnormNormMean += dnorm * (x[c] - m) * r
        }
        dnormMean /= S(C)
        dnormNormMean /= S(C)
        for c in 0..<C {
            let dnorm = weight[c] * dy[c]
            dx[c] += (dnorm - dnormMean - (x[c] - m) * r * dnormNormMean) * r
        }
    }
}

// MARK: - SwiGLU (Llama MLP): out = silu(gate) ⊙ up

/// out (N) from gate (N), up (N).
@_specialize(where S == Float)
@_specialize(where S == Double)
func swigluForward<S: RuntimeScalar>(
    _ out: UnsafeMutablePointer<S>, _ gate: UnsafePointer<S>, _ up: UnsafePointer<S>, _ N: Int
) {
    for i in 0..<N {
        let g = gate[i]
        out[i] = g / (1 + S.exp(-g)) * up[i]
    }
}

/// dgate (N) = and dup (N) = the gradients of Σ dout ⊙ out.
@_specialize(where S == Float)
@_specialize(where S == Double)
func swigluBackward<S: RuntimeScalar>(
    _ dgate: UnsafeMutablePointer<S>, _ dup: UnsafeMutablePointer<S>, _ dout: UnsafePointer<S>,
    _ gate: UnsafePointer<S>, _ up: UnsafePointer<S>, _ N: Int
) {
    for i in 0..<N {
        let g = gate[i]
        let sig = 1 / (1 + S.exp(-g))
        let silu = g * sig
        dup[i] = dout[i] * silu
        dgate[i] = dout[i] * up[i] * sig * (1 + g * (1 - sig))
    }
}

// MARK: - GELU, tanh approximation (GPT-2 "gelu_new")

/// out (N) = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))).
@_specialize(where S == Float)
@_specialize(where S == Double)
func geluForward<S: RuntimeScalar>(_ out: UnsafeMutablePointer<S>, _ inp: UnsafePointer<S>, _ N: Int) {
    let s = S(0.7978845608028654)  // √(2/π)
    let a = S(0.044715)
    for i in 0..<N {
        let x = inp[i]
        out[i] = S(0.5) * x * (1 + S.tanh(s * (x + a * x * x * x)))
    }
}

/// dinp (N) = the gradient of Σ dout ⊙ out.
@_specialize(where S == Float)
@_specialize(where S == Double)
func geluBackward<S: RuntimeScalar>(
    _ dinp: UnsafeMutablePointer<S>, _ dout: UnsafePointer<S>, _ inp: UnsafePointer<S>, _ N: Int
) {
    let s = S(0.7978845608028654)
    let a = S(0.044715)
    for i in 0..<N {
        let x = inp[i]
        let th = S.tanh(s * (x + a * x * x * x))
        let sech2 = 1 - th * th
        let local = S(0.5) * (1 + th) + S(0.5) * x * sech2 * s * (1 + 3 * a * x * x)
        dinp[i] = dout[i] * local
    }
}

// MARK: - Residual

/// out (N) = a (N) + b (N); out may alias a.
@_specialize(where S == Float)
@_specialize(where S == Double)
func residualForward<S: RuntimeScalar>(
    _ out: UnsafeMutablePointer<S>, _ a: UnsafePointer<S>, _ b: UnsafePointer<S>, _ N: Int
) {
    for i in 0..<N { out[i] = a[i] + b[i] }
}

// MARK: - Log-softmax

/// out (V) = log softmax(logits (V)), accumulated in Double; returns the log-sum-exp.
@discardableResult
@_specialize(where S == Float)
@_specialize(where S == Double)
func logSoftmaxForward<S: RuntimeScalar>(_ out: UnsafeMutablePointer<S>, _ logits: UnsafePointer<S>, _ V: Int) -> Double {
    var maxValue = -Double.infinity
    for v in 0..<V { maxValue = max(maxValue, Double(logits[v])) }
    var sum = 0.0
    for v in 0..<V { sum += Foundation.exp(Double(logits[v]) - maxValue) }
    let lse = maxValue + Foundation.log(sum)
    for v in 0..<V { out[v] = S(Double(logits[v]) - lse) }
    return lse
}
