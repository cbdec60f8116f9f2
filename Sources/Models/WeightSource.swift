// Where a model's weights come from, in the one internal convention: canonical (GGUF-style)
// tensor names, row-major shapes, matrices out × in (y = W x), Q/K rows in rotate-half RoPE
// order, GPT-2's fused c_attn already split into attn_q/attn_k/attn_v. The file loaders
// (ModelLoader.swift) convert every source to this; the models never see a file format.
import Tensors

/// A tensor in the internal convention: row-major `shape`, Float32 values.
public struct WeightTensor: Sendable {
    public var shape: [Int]
    public var values: [Float]
    public init(shape: [Int], values: [Float]) {
        self.shape = shape
        self.values = values
    }
}

/// A provider of canonical tensors (`token_embd.weight`, `blk.3.ffn_down.weight`, …).
public protocol WeightSource {
    /// The tensor called `name`, or nil when the source has none by that name.
    /// - Throws: `ModelError` when the tensor exists but cannot be read.
    func tensor(named name: String) throws -> WeightTensor?
}

/// Weights held in memory, e.g. random weights for tests.
public struct WeightDictionary: WeightSource, Sendable {
    public var tensors: [String: WeightTensor]
    public init(_ tensors: [String: WeightTensor] = [:]) { self.tensors = tensors }
    public func tensor(named name: String) throws -> WeightTensor? { tensors[name] }
}

extension WeightSource {
    /// The tensor `name` with exactly `shape`, converted to `S`.
    func required<S: RuntimeScalar>(_ name: String, shape: [Int]) throws -> ScalarBuffer<S> {
        guard let tensor = try tensor(named: name) else { throw ModelError.missingTensor(name) }
        return try checked(tensor, name: name, shape: shape)
    }

    /// The tensor `name` with exactly `shape`, or nil when absent.
    func optional<S: RuntimeScalar>(_ name: String, shape: [Int]) throws -> ScalarBuffer<S>? {
        guard let tensor = try tensor(named: name) else { return nil }
        return try checked(tensor, name: name, shape: shape)
    }

    private func checked<S: RuntimeScalar>(_ tensor: WeightTensor, name: String, shape: [Int]) throws -> ScalarBuffer<S> {
        guard tensor.shape == shape, tensor.values.count == shape.reduce(1, *) else {
            throw ModelError.tensorShape(name, expected: shape, actual: tensor.shape)
        }
        return ScalarBuffer<S>(converting: tensor.values)
    }
}
