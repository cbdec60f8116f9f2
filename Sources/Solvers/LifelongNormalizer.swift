// UltraEdit's lifelong normalisation: a running count, mean and variance of one edit layer's
// features [k ‖ g] (d_in + d_out wide) over every edit made so far, merged batch by batch, and the
// standardisation (x − μ)/(σ + ε) with them. Not a whitening (no covariance), as in the reference
// code; the merge is Chan et al.'s exact parallel update, so the statistics after two batches are
// those of their concatenation (the reference adds N·var with the unbiased batch variance, which is
// not quite that). Float64 throughout; how the state is stored is the ledger's business.
import Tensors

/// Running statistics of a layer's features, as UltraEdit's `RunningMeanStd` keeps them.
public struct LifelongNormalizer: Sendable, Equatable {
    /// d_in: the first `keyDimension` entries of a feature row are the key, the rest the gradient.
    public let keyDimension: Int
    /// Feature rows seen so far.
    public private(set) var count: Int
    /// Mean of the rows seen (d_in + d_out).
    public private(set) var mean: [Double]
    /// Population variance Σ(x − μ)²/count of the rows seen (zero while count is 0).
    public private(set) var variance: [Double]

    /// ε of the reference code, float32's machine epsilon: it keeps σ = 0 (a constant feature, or
    /// a single row) from dividing by zero.
    public static let epsilon = Double(Float.ulpOfOne)

    /// Empty statistics for features of `keyDimension` + `valueDimension` entries.
    public init(keyDimension: Int, valueDimension: Int) {
        precondition(keyDimension > 0 && valueDimension > 0, "feature parts must be non-empty")
        self.keyDimension = keyDimension
        count = 0
        mean = [Double](repeating: 0, count: keyDimension + valueDimension)
        variance = mean
    }

    /// Statistics as stored; nil when the parts do not fit together.
    public init?(keyDimension: Int, count: Int, mean: [Double], variance: [Double]) {
        guard keyDimension > 0, mean.count > keyDimension, variance.count == mean.count, count >= 0 else { return nil }
        self.keyDimension = keyDimension
        self.count = count
        self.mean = mean
        self.variance = variance
    }

    public var dimension: Int { mean.count }

    /// Merges the rows of `features` (n × dimension) into the statistics.
    public mutating func update(with features: Matrix<Double>) {
        precondition(features.cols == dimension, "features of \(features.cols) columns for statistics of \(dimension)")
        let n = features.rows
        if n == 0 { return }
        let d = dimension
        var batchMean = [Double](repeating: 0, count: d)
        var batchSquares = [Double](repeating: 0, count: d)
        features.values.withUnsafeBufferPointer { x in
            batchMean.withUnsafeMutableBufferPointer { m in
                for r in 0..<n { for c in 0..<d { m[c] += x[r * d + c] } }
                for c in 0..<d { m[c] /= Double(n) }
                // Two passes: the squared deviations from the batch's own mean, not Σx² − nμ².
                batchSquares.withUnsafeMutableBufferPointer { s in
                    for r in 0..<n {
                        for c in 0..<d {
                            let deviation = x[r * d + c] - m[c]
                            s[c] += deviation * deviation
                        }
                    }
                }
            }
        }
        let old = Double(count), added = Double(n), total = old + added
        for c in 0..<d {
            let shift = batchMean[c] - mean[c]
            let squares = variance[c] * old + batchSquares[c] + shift * shift * old * added / total
            mean[c] += shift * added / total
            variance[c] = squares / total
        }
        count += n
    }

    /// σ as the reference computes it: the square root of the unbiased variance.
    public var standardDeviation: [Double] {
        let n = Double(count)
        return variance.map { ($0 * n / (n - 1 + Self.epsilon)).squareRoot() }
    }

    /// (x − μ)/(σ + ε) for every row of `features` (n × dimension).
    public func standardized(_ features: Matrix<Double>) -> Matrix<Double> {
        precondition(features.cols == dimension, "features of \(features.cols) columns for statistics of \(dimension)")
        let sigma = standardDeviation
        var out = features
        let d = dimension
        out.values.withUnsafeMutableBufferPointer { x in
            for r in 0..<features.rows {
                for c in 0..<d { x[r * d + c] = (x[r * d + c] - mean[c]) / (sigma[c] + Self.epsilon) }
            }
        }
        return out
    }
}
