// Every backward kernel against central finite differences of Σ dout ⊙ forward(x) in Float64,
// and the BLAS kernels against their naive references.
import Foundation
@testable import Models
import Tensors
import Testing

/// Random Double values from a seeded generator.
private func randomValues(_ count: Int, _ generator: inout SeededGenerator, scale: Double = 1) -> [Double] {
    (0..<count).map { _ in generator.nextGaussian() * scale }
}

/// Central-difference gradient of f at x, coordinate by coordinate.
private func numericGradient(_ x: [Double], h: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
    var x = x
    return (0..<x.count).map { i in
        let saved = x[i]
        x[i] = saved + h
        let plus = f(x)
        x[i] = saved - h
        let minus = f(x)
        x[i] = saved
        return (plus - minus) / (2 * h)
    }
}

/// ‖a − b‖ / ‖b‖.
private func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    let diff = zip(a, b).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) }.squareRoot()
    let norm = b.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return diff / max(norm, 1e-300)
}

private func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

@Suite("Layer kernels")
struct LayerKernelTests {
    @Test("rmsnorm backward matches finite differences")
    func rmsnorm() {
        var g = SeededGenerator(seed: 1)
        let T = 3, C = 8
        let x = randomValues(T * C, &g), w = randomValues(C, &g), dout = randomValues(T * C, &g)
        func forward(_ x: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: T * C), rstd = [Double](repeating: 0, count: T)
            rmsnormForward(&out, &rstd, x, w, T, C, eps: 1e-5)
            return out
        }
        var out = [Double](repeating: 0, count: T * C), rstd = [Double](repeating: 0, count: T)
        rmsnormForward(&out, &rstd, x, w, T, C, eps: 1e-5)
        var dx = [Double](repeating: 0, count: T * C)
        rmsnormBackward(&dx, dout, x, w, rstd, T, C)
        let error = relativeError(dx, numericGradient(x) { dot(forward($0), dout) })
        #expect(error < 1e-7, "relative error \(error)")
    }

    @Test("layernorm backward matches finite differences")
    func layernorm() {
        var g = SeededGenerator(seed: 2)
        let T = 3, C = 8
        let x = randomValues(T * C, &g), w = randomValues(C, &g), b = randomValues(C, &g), dout = randomValues(T * C, &g)
        func forward(_ x: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: T * C), m = [Double](repeating: 0, count: T), r = m
            layernormForward(&out, &m, &r, x, w, b, T, C, eps: 1e-5)
            return out
        }
        var out = [Double](repeating: 0, count: T * C), m = [Double](repeating: 0, count: T), r = m
        layernormForward(&out, &m, &r, x, w, b, T, C, eps: 1e-5)
        var dx = [Double](repeating: 0, count: T * C)
        layernormBackward(&dx, dout, x, w, m, r, T, C)
        let error = relativeError(dx, numericGradient(x) { dot(forward($0), dout) })
        #expect(error < 1e-7, "relative error \(error)")
    }

    @Test("swiglu and gelu backward match finite differences")
    func activations() {
        var g = SeededGenerator(seed: 3)
        let N = 24
        let gate = randomValues(N, &g, scale: 2), up = randomValues(N, &g), dout = randomValues(N, &g)
        var dgate = [Double](repeating: 0, count: N), dup = dgate
        swigluBackward(&dgate, &dup, dout, gate, up, N)
        func swiglu(_ a: [Double], _ b: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: N)
            swigluForward(&out, a, b, N)
            return out
        }
        let gateError = relativeError(dgate, numericGradient(gate) { dot(swiglu($0, up), dout) })
        let upError = relativeError(dup, numericGradient(up) { dot(swiglu(gate, $0), dout) })
        #expect(gateError < 1e-7 && upError < 1e-7, "swiglu relative errors \(gateError), \(upError)")

        var dx = [Double](repeating: 0, count: N)
        geluBackward(&dx, dout, gate, N)
        let geluError = relativeError(dx, numericGradient(gate) { x in
            var out = [Double](repeating: 0, count: N)
            geluForward(&out, x, N)
            return dot(out, dout)
        })
        #expect(geluError < 1e-7, "gelu relative error \(geluError)")
    }

    @Test("rope backward matches finite differences")
    func rope() {
        var g = SeededGenerator(seed: 4)
        let T = 4, NH = 2, HS = 8
        var cos = [Double](repeating: 0, count: T * HS / 2), sin = cos
        ropeTables(&cos, &sin, positions: [0, 3, 7, 100], HS: HS, theta: 10000)
        let x = randomValues(T * NH * HS, &g), dout = randomValues(T * NH * HS, &g)
        var dx = dout
        ropeBackward(&dx, cos, sin, T, NH, HS)
        let error = relativeError(dx, numericGradient(x) { x in
            var y = x
            ropeForward(&y, cos, sin, T, NH, HS)
            return dot(y, dout)
        })
        #expect(error < 1e-7, "relative error \(error)")
    }

    @Test("attention: BLAS kernel equals the naive one, backward matches finite differences", arguments: [(3, 3), (2, 5)])
    func attention(shape: (Int, Int)) {
        let (Tq, Tk) = shape
        var g = SeededGenerator(seed: 5)
        let NH = 4, NKV = 2, HS = 4
        let q = randomValues(Tq * NH * HS, &g), k = randomValues(Tk * NKV * HS, &g), v = randomValues(Tk * NKV * HS, &g)
        let dout = randomValues(Tq * NH * HS, &g)
        func forward(_ q: [Double], _ k: [Double], _ v: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: Tq * NH * HS), probs = [Double](repeating: 0, count: NH * Tq * Tk)
            attentionForward(&out, &probs, q, k, v, Tq, Tk, NH, NKV, HS)
            return out
        }
        var naive = [Double](repeating: 0, count: Tq * NH * HS)
        attentionForwardNaive(&naive, q, k, v, Tq, Tk, NH, NKV, HS)
        let kernelError = maxAbsDifference(forward(q, k, v), naive)
        #expect(kernelError < 1e-12, "BLAS vs naive attention \(kernelError)")

        var out = [Double](repeating: 0, count: Tq * NH * HS), probs = [Double](repeating: 0, count: NH * Tq * Tk)
        attentionForward(&out, &probs, q, k, v, Tq, Tk, NH, NKV, HS)
        var dq = [Double](repeating: 0, count: Tq * NH * HS)
        var dk = [Double](repeating: 0, count: Tk * NKV * HS), dv = dk
        var dprobs = [Double](repeating: 0, count: Tq * Tk)
        attentionBackward(&dq, &dk, &dv, &dprobs, dout, probs, q, k, v, Tq, Tk, NH, NKV, HS)
        let qError = relativeError(dq, numericGradient(q) { dot(forward($0, k, v), dout) })
        let kError = relativeError(dk, numericGradient(k) { dot(forward(q, $0, v), dout) })
        let vError = relativeError(dv, numericGradient(v) { dot(forward(q, k, $0), dout) })
        #expect(max(qError, kError, vError) < 1e-7, "relative errors dq \(qError), dk \(kError), dv \(vError)")
    }

    @Test("matmul: BLAS kernel equals the naive one; backward is the transpose product")
    func matmul() {
        var g = SeededGenerator(seed: 6)
        let T = 5, C = 7, OC = 3
        let x = randomValues(T * C, &g), w = randomValues(OC * C, &g), b = randomValues(OC, &g), dout = randomValues(T * OC, &g)
        var fast = [Double](repeating: 0, count: T * OC), naive = fast
        matmulForward(&fast, x, w, b, T, C, OC)
        matmulForwardNaive(&naive, x, w, b, T, C, OC)
        #expect(maxAbsDifference(fast, naive) < 1e-12)
        var dx = [Double](repeating: 0, count: T * C)
        matmulBackward(&dx, dout, w, T, C, OC, accumulate: false)
        let error = relativeError(dx, numericGradient(x) { x in
            var out = [Double](repeating: 0, count: T * OC)
            matmulForwardNaive(&out, x, w, b, T, C, OC)
            return dot(out, dout)
        })
        #expect(error < 1e-7, "relative error \(error)")
    }
}
