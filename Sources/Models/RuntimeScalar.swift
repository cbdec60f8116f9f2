// The element types the transformer runtime computes in (Float for inference and editing,
// Double for gradient checks), and the owned raw buffers its kernels work on.
// Not a tensor library: no shapes, no broadcasting; shapes live in comments beside each buffer.
import Foundation
import Tensors

/// A `MatrixScalar` with the elementary functions the layer kernels need.
public protocol RuntimeScalar: MatrixScalar {
    static func exp(_ x: Self) -> Self
    static func log(_ x: Self) -> Self
    static func tanh(_ x: Self) -> Self
}

extension Float: RuntimeScalar {
    @inlinable public static func exp(_ x: Float) -> Float { Foundation.exp(x) }
    @inlinable public static func log(_ x: Float) -> Float { Foundation.log(x) }
    @inlinable public static func tanh(_ x: Float) -> Float { Foundation.tanh(x) }
}

extension Double: RuntimeScalar {
    @inlinable public static func exp(_ x: Double) -> Double { Foundation.exp(x) }
    @inlinable public static func log(_ x: Double) -> Double { Foundation.log(x) }
    @inlinable public static func tanh(_ x: Double) -> Double { Foundation.tanh(x) }
}

/// One zero-initialised allocation of `count` scalars, freed with its owner. Kernels take its
/// `pointer`; the owner keeps it alive for as long as the pointer is used.
final class ScalarBuffer<S: RuntimeScalar> {
    let count: Int
    let pointer: UnsafeMutablePointer<S>

    init(count: Int) {
        self.count = count
        pointer = UnsafeMutablePointer<S>.allocate(capacity: max(count, 1))
        pointer.initialize(repeating: 0, count: max(count, 1))
    }

    convenience init(_ values: [S]) {
        self.init(count: values.count)
        values.withUnsafeBufferPointer { src in
            if let base = src.baseAddress { pointer.update(from: base, count: values.count) }
        }
    }

    @_specialize(where S == Float)
    @_specialize(where S == Double)
    convenience init(converting values: [Float]) {
        self.init(count: values.count)
        for i in 0..<values.count { pointer[i] = S(values[i]) }
    }

    deinit { pointer.deallocate() }

    var array: [S] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    func zero() { pointer.update(repeating: 0, count: count) }

    /// Rows `rows` of a (·, cols) buffer as a Float matrix.
    @_specialize(where S == Float)
    @_specialize(where S == Double)
    func floatMatrix(rows: Int, cols: Int) -> Matrix<Float> {
        precondition(rows * cols <= count, "\(rows)×\(cols) view of \(count) scalars")
        var out = Matrix<Float>(rows: rows, cols: cols)
        for i in 0..<(rows * cols) { out.values[i] = Float(pointer[i]) }
        return out
    }
}
