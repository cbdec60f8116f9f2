// Forward passes shared by both architectures (batched prompts packed into one activation
// matrix, LM head only at requested rows), and the EditableModel/TransformerModel conformances
// of LlamaModel and GPT2Model, which forward to them. Not here: δ sessions and generation.
import Tensors

extension DecoderStack {
    /// Stops on prompts that break the contract in `TransformerModel`'s documentation.
    func checkPrompts(_ prompts: [[Int]], positions: [Int]? = nil) {
        let V = configuration.vocabularySize
        for (i, prompt) in prompts.enumerated() {
            precondition(!prompt.isEmpty, "prompt \(i) is empty")
            precondition(prompt.count <= configuration.contextLength,
                         "prompt \(i) has \(prompt.count) tokens, the context holds \(configuration.contextLength)")
            precondition(prompt.allSatisfy { $0 >= 0 && $0 < V }, "prompt \(i) has a token id outside 0..<\(V)")
            if let positions {
                precondition(positions[i] >= 0 && positions[i] < prompt.count,
                             "position \(positions[i]) outside prompt \(i) of \(prompt.count) tokens")
            }
        }
        if let positions { precondition(positions.count == prompts.count, "\(positions.count) positions for \(prompts.count) prompts") }
    }

    /// Embeds the batch and runs blocks 0...last on it; `observe` sees x (T, C) and the block's
    /// activations after each block. Returns x after block `last` (the embeddings when last < 0).
    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func forwardBlocks(_ context: ForwardContext<S>, through last: Int,
                       observe: (Int, UnsafeMutablePointer<S>, BlockActivations<S>) -> Void = { _, _, _ in }) -> ScalarBuffer<S> {
        let x = ScalarBuffer<S>(count: context.rows * configuration.hiddenSize)  // (T, C)
        embedForward(x.pointer, context)
        if last < 0 { return x }
        let acts = BlockActivations(configuration: configuration, context: context)
        for layer in 0...last {
            blockForward(layer: layer, x.pointer, context, acts)
            observe(layer, x.pointer, acts)
        }
        return x
    }

    /// Rows `rows` of a (T, width) buffer, gathered into (R, width).
    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func gather(_ source: UnsafePointer<S>, width: Int, rows: [Int]) -> ScalarBuffer<S> {
        let out = ScalarBuffer<S>(count: rows.count * width)
        for (r, row) in rows.enumerated() { (out.pointer + r * width).update(from: source + row * width, count: width) }
        return out
    }

    /// Logits (R, V) of residual rows h (R, C): final norm, then the LM head.
    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func headForward(_ h: UnsafePointer<S>, _ R: Int) -> ScalarBuffer<S> {
        let C = configuration.hiddenSize, V = configuration.vocabularySize
        let normed = ScalarBuffer<S>(count: R * C)
        let mean = ScalarBuffer<S>(count: R), rstd = ScalarBuffer<S>(count: R)
        finalNormForward(normed.pointer, mean.pointer, rstd.pointer, h, R)
        let logits = ScalarBuffer<S>(count: R * V)
        matmulForward(logits.pointer, normed.pointer, head.pointer, headBias?.pointer, R, C, V)
        return logits
    }

    func rows(_ context: ForwardContext<S>, positions: [Int]) -> [Int] {
        zip(context.segments, positions).map { $0.lowerBound + $1 }
    }

    /// The rows of every position of `positionsPerPrompt[i]` in prompt i, prompt after prompt.
    func rows(_ context: ForwardContext<S>, positionsPerPrompt: [[Int]]) -> [Int] {
        precondition(positionsPerPrompt.count == context.segments.count,
                     "positions for \(positionsPerPrompt.count) prompts, not \(context.segments.count)")
        var rows: [Int] = []
        for (i, (segment, positions)) in zip(context.segments, positionsPerPrompt).enumerated() {
            for position in positions {
                precondition(position >= 0 && position < segment.count, "position \(position) outside prompt \(i) of \(segment.count) tokens")
                rows.append(segment.lowerBound + position)
            }
        }
        return rows
    }

    // MARK: Public operations

    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func runtimeLogits(prompts: [[Int]], positions: [Int]) -> Matrix<Float> {
        checkPrompts(prompts, positions: positions)
        let context = ForwardContext<S>(prompts: prompts)
        let x = forwardBlocks(context, through: configuration.layerCount - 1)
        let h = gather(x.pointer, width: configuration.hiddenSize, rows: rows(context, positions: positions))
        return headForward(h.pointer, prompts.count).floatMatrix(rows: prompts.count, cols: configuration.vocabularySize)
    }

    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func runtimeLogits(prompt: [Int]) -> Matrix<Float> {
        checkPrompts([prompt])
        let context = ForwardContext<S>(prompts: [prompt])
        let x = forwardBlocks(context, through: configuration.layerCount - 1)
        return headForward(x.pointer, prompt.count).floatMatrix(rows: prompt.count, cols: configuration.vocabularySize)
    }

    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func runtimeLogProbabilities(prompts: [[Int]], positions: [Int]) -> Matrix<Float> {
        var logits = runtimeLogits(prompts: prompts, positions: positions)
        let V = configuration.vocabularySize
        logits.values.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }
            for r in 0..<prompts.count { logSoftmaxForward(base + r * V, base + r * V, V) }
        }
        return logits
    }

    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func runtimeLogProbabilities(prompts: [[Int]], positionsPerPrompt: [[Int]]) -> Matrix<Float> {
        checkPrompts(prompts)
        let context = ForwardContext<S>(prompts: prompts)
        let rows = self.rows(context, positionsPerPrompt: positionsPerPrompt)
        let V = configuration.vocabularySize
        if rows.isEmpty { return Matrix(rows: 0, cols: V) }
        let x = forwardBlocks(context, through: configuration.layerCount - 1)
        let h = gather(x.pointer, width: configuration.hiddenSize, rows: rows)
        var logits = headForward(h.pointer, rows.count).floatMatrix(rows: rows.count, cols: V)
        logits.values.withUnsafeMutableBufferPointer { p in
            guard let base = p.baseAddress else { return }
            for r in 0..<rows.count { logSoftmaxForward(base + r * V, base + r * V, V) }
        }
        return logits
    }

    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func runtimeKeys(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float> {
        precondition(layer >= 0 && layer < configuration.layerCount, "layer \(layer) out of range")
        checkPrompts(prompts, positions: positions)
        let context = ForwardContext<S>(prompts: prompts)
        let F = configuration.intermediateSize
        var keys = Matrix<Float>(rows: prompts.count, cols: F)
        let wanted = rows(context, positions: positions)
        _ = forwardBlocks(context, through: layer) { l, _, acts in
            guard l == layer else { return }
            keys = gather(acts.key.pointer, width: F, rows: wanted).floatMatrix(rows: prompts.count, cols: F)
        }
        return keys
    }

    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func runtimeKeysAtAllPositions(prompts: [[Int]], layers: [Int]) -> [Int: Matrix<Float>] {
        guard let last = layers.max() else { return [:] }
        precondition(layers.allSatisfy { $0 >= 0 && $0 < configuration.layerCount }, "layer out of range")
        checkPrompts(prompts)
        let context = ForwardContext<S>(prompts: prompts)
        let F = configuration.intermediateSize
        var result: [Int: Matrix<Float>] = [:]
        _ = forwardBlocks(context, through: last) { l, _, acts in
            if layers.contains(l) { result[l] = acts.key.floatMatrix(rows: context.rows, cols: F) }
        }
        return result
    }

    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func runtimeResiduals(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float> {
        precondition(layer >= 0 && layer < configuration.layerCount, "layer \(layer) out of range")
        checkPrompts(prompts, positions: positions)
        let context = ForwardContext<S>(prompts: prompts)
        let C = configuration.hiddenSize
        let x = forwardBlocks(context, through: layer)
        return gather(x.pointer, width: C, rows: rows(context, positions: positions)).floatMatrix(rows: prompts.count, cols: C)
    }

    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func runtimeEditValues(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float> {
        guard mlpOutputNorm(layer: layer) != nil else { return runtimeResiduals(prompts: prompts, positions: positions, layer: layer) }
        let keys = runtimeKeys(prompts: prompts, positions: positions, layer: layer)
        return keys.multiplied(by: runtimeMLPOutputWeight(layer: layer).transposed())
    }

    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func runtimeHiddenStates(prompt: [Int]) -> HiddenStates {
        checkPrompts([prompt])
        let context = ForwardContext<S>(prompts: [prompt])
        let T = prompt.count, C = configuration.hiddenSize
        let embedded = ScalarBuffer<S>(count: T * C)
        embedForward(embedded.pointer, context)
        var after: [Matrix<Float>] = []
        let x = forwardBlocks(context, through: configuration.layerCount - 1) { _, x, _ in
            after.append(ScalarBuffer<S>.copy(of: x, count: T * C).floatMatrix(rows: T, cols: C))
        }
        let normed = ScalarBuffer<S>(count: T * C)
        let mean = ScalarBuffer<S>(count: T), rstd = ScalarBuffer<S>(count: T)
        finalNormForward(normed.pointer, mean.pointer, rstd.pointer, x.pointer, T)
        return HiddenStates(embeddings: embedded.floatMatrix(rows: T, cols: C), afterLayer: after,
                            finalNorm: normed.floatMatrix(rows: T, cols: C))
    }

    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func runtimeMLPOutputWeight(layer: Int) -> Matrix<Float> {
        downProjection(layer: layer).floatMatrix(rows: configuration.hiddenSize, cols: configuration.intermediateSize)
    }

    @_specialize(where Self == LlamaModel<Float>)
    @_specialize(where Self == GPT2Model<Float>)
    @_specialize(where Self == Gemma3Model<Float>)
    func runtimeSetMLPOutputWeight(layer: Int, _ weight: Matrix<Float>) {
        precondition(weight.rows == configuration.hiddenSize && weight.cols == configuration.intermediateSize,
                     "MLP output weight of \(weight.rows)×\(weight.cols), expected \(configuration.hiddenSize)×\(configuration.intermediateSize)")
        replaceDownProjection(layer: layer, ScalarBuffer<S>(converting: weight.values))
    }
}

extension ScalarBuffer {
    @_specialize(where S == Float)
    static func copy(of source: UnsafePointer<S>, count: Int) -> ScalarBuffer<S> {
        let out = ScalarBuffer<S>(count: count)
        out.pointer.update(from: source, count: count)
        return out
    }
}

/// `ResidualStream` for both architectures: the packed batch's x (T, C) at the input of block
/// `nextBlock`.
final class RuntimeResidualStream<M: DecoderStack>: ResidualStream {
    typealias S = M.S
    let model: M
    let prompts: [[Int]]
    let context: ForwardContext<S>
    let x: ScalarBuffer<S>
    let activations: BlockActivations<S>
    private(set) var nextBlock = 0

    @_specialize(where M == LlamaModel<Float>)
    @_specialize(where M == GPT2Model<Float>)
    @_specialize(where M == Gemma3Model<Float>)
    init(model: M, prompts: [[Int]]) {
        model.checkPrompts(prompts)
        self.model = model
        self.prompts = prompts
        context = ForwardContext<S>(prompts: prompts)
        x = ScalarBuffer<S>(count: context.rows * model.configuration.hiddenSize)
        model.embedForward(x.pointer, context)
        activations = BlockActivations(configuration: model.configuration, context: context)
    }

    @_specialize(where M == LlamaModel<Float>)
    @_specialize(where M == GPT2Model<Float>)
    @_specialize(where M == Gemma3Model<Float>)
    func keys(layer: Int, positions: [Int]) -> Matrix<Float> {
        precondition(positions.count == prompts.count, "\(positions.count) positions for \(prompts.count) prompts")
        return keys(layer: layer, positionsPerPrompt: positions.map { [$0] })
    }

    @_specialize(where M == LlamaModel<Float>)
    @_specialize(where M == GPT2Model<Float>)
    @_specialize(where M == Gemma3Model<Float>)
    func keys(layer: Int, positionsPerPrompt: [[Int]]) -> Matrix<Float> {
        let configuration = model.configuration
        precondition(layer >= nextBlock && layer < configuration.layerCount, "layer \(layer): the stream is at block \(nextBlock)")
        let rows = model.rows(context, positionsPerPrompt: positionsPerPrompt)
        while nextBlock < layer {
            model.blockForward(layer: nextBlock, x.pointer, context, activations)
            nextBlock += 1
        }
        let C = configuration.hiddenSize, F = configuration.intermediateSize
        let scratch = ScalarBuffer<S>(count: context.rows * C)
        scratch.pointer.update(from: x.pointer, count: context.rows * C)
        model.blockForward(layer: layer, scratch.pointer, context, activations)
        return model.gather(activations.key.pointer, width: F, rows: rows).floatMatrix(rows: rows.count, cols: F)
    }
}

// MARK: - Conformances

extension LlamaModel: TransformerModel {
    public func mlpOutputWeight(layer: Int) -> Matrix<Float> { runtimeMLPOutputWeight(layer: layer) }
    public func setMLPOutputWeight(layer: Int, _ weight: Matrix<Float>) { runtimeSetMLPOutputWeight(layer: layer, weight) }
    public func keys(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float> {
        runtimeKeys(prompts: prompts, positions: positions, layer: layer)
    }
    public func keysAtAllPositions(prompts: [[Int]], layers: [Int]) -> [Int: Matrix<Float>] {
        runtimeKeysAtAllPositions(prompts: prompts, layers: layers)
    }
    public func residuals(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float> {
        runtimeResiduals(prompts: prompts, positions: positions, layer: layer)
    }
    public func editValues(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float> {
        runtimeEditValues(prompts: prompts, positions: positions, layer: layer)
    }
    public func logProbabilities(prompts: [[Int]], positions: [Int]) -> Matrix<Float> {
        runtimeLogProbabilities(prompts: prompts, positions: positions)
    }
    public func logProbabilities(prompts: [[Int]], positionsPerPrompt: [[Int]]) -> Matrix<Float> {
        runtimeLogProbabilities(prompts: prompts, positionsPerPrompt: positionsPerPrompt)
    }
    public func deltaSession(prompts: [[Int]], deltaPositions: [Int], layer: Int) -> DeltaSession {
        RuntimeDeltaSession(model: self, prompts: prompts, deltaPositions: deltaPositions, layer: layer)
    }
    public func logits(prompts: [[Int]], positions: [Int]) -> Matrix<Float> {
        runtimeLogits(prompts: prompts, positions: positions)
    }
    public func logits(prompt: [Int]) -> Matrix<Float> { runtimeLogits(prompt: prompt) }
    public func hiddenStates(prompt: [Int]) -> HiddenStates { runtimeHiddenStates(prompt: prompt) }
    public func generate(prompt: [Int], maxNewTokens: Int, sampling: SamplingOptions) -> Generation {
        runtimeGenerate(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling)
    }
    public func extend(prompts: [[Int]], budgets: [Int], choose: (Int, [Float]) -> Int) -> [[Int]] {
        runtimeExtend(prompts: prompts, budgets: budgets, choose: choose)
    }
    public func residualStream(prompts: [[Int]]) -> ResidualStream {
        RuntimeResidualStream(model: self, prompts: prompts)
    }
}

extension GPT2Model: TransformerModel {
    public func mlpOutputWeight(layer: Int) -> Matrix<Float> { runtimeMLPOutputWeight(layer: layer) }
    public func setMLPOutputWeight(layer: Int, _ weight: Matrix<Float>) { runtimeSetMLPOutputWeight(layer: layer, weight) }
    public func keys(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float> {
        runtimeKeys(prompts: prompts, positions: positions, layer: layer)
    }
    public func keysAtAllPositions(prompts: [[Int]], layers: [Int]) -> [Int: Matrix<Float>] {
        runtimeKeysAtAllPositions(prompts: prompts, layers: layers)
    }
    public func residuals(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float> {
        runtimeResiduals(prompts: prompts, positions: positions, layer: layer)
    }
    public func editValues(prompts: [[Int]], positions: [Int], layer: Int) -> Matrix<Float> {
        runtimeEditValues(prompts: prompts, positions: positions, layer: layer)
    }
    public func logProbabilities(prompts: [[Int]], positions: [Int]) -> Matrix<Float> {
        runtimeLogProbabilities(prompts: prompts, positions: positions)
    }
    public func logProbabilities(prompts: [[Int]], positionsPerPrompt: [[Int]]) -> Matrix<Float> {
        runtimeLogProbabilities(prompts: prompts, positionsPerPrompt: positionsPerPrompt)
    }
    public func deltaSession(prompts: [[Int]], deltaPositions: [Int], layer: Int) -> DeltaSession {
        RuntimeDeltaSession(model: self, prompts: prompts, deltaPositions: deltaPositions, layer: layer)
    }
    public func logits(prompts: [[Int]], positions: [Int]) -> Matrix<Float> {
        runtimeLogits(prompts: prompts, positions: positions)
    }
    public func logits(prompt: [Int]) -> Matrix<Float> { runtimeLogits(prompt: prompt) }
    public func hiddenStates(prompt: [Int]) -> HiddenStates { runtimeHiddenStates(prompt: prompt) }
    public func generate(prompt: [Int], maxNewTokens: Int, sampling: SamplingOptions) -> Generation {
        runtimeGenerate(prompt: prompt, maxNewTokens: maxNewTokens, sampling: sampling)
    }
    public func extend(prompts: [[Int]], budgets: [Int], choose: (Int, [Float]) -> Int) -> [[Int]] {
        runtimeExtend(prompts: prompts, budgets: budgets, choose: choose)
    }
    public func residualStream(prompts: [[Int]]) -> ResidualStream {
        RuntimeResidualStream(model: self, prompts: prompts)
    }
}
