// The fixed measurements that show the health of an edited model over a long history: the
// perplexity of a neutral probe text (ordinary prose no fact edit is about), the teacher-forced
// top-1 test of facts, and the Frobenius norm of a summed low-rank delta computed from its
// factors. Model-side only: where the facts and deltas come from, and where results are stored,
// is the ledger's business (MLEditCLI's HealthCheck).
import Foundation
import Models
import Tensors

/// Perplexity of a fixed probe text, fact retention, and delta norms from factors.
public enum HealthProbe {
    /// The probe: everyday prose about weather, cooking, gardens and walking, written for this
    /// purpose (a few hundred tokens). Changing it changes every stored perplexity's meaning,
    /// so stored results are keyed by its digest.
    public static let text = """
        On most mornings the kitchen is the first room to wake up. Someone fills the kettle, opens the window a little, \
        and listens to the birds arguing in the hedge while the water begins to hum. Bread from the day before is cut \
        into thick slices and toasted until the edges turn brown. There is butter, a jar of honey, and a bowl of apples \
        that nobody remembers buying. The radio talks quietly about traffic on the bridge and rain moving in from the \
        west later in the afternoon.

        After breakfast the garden needs attention. The beans have climbed past the top of their poles, and the \
        tomatoes are heavy enough that two of the stems have bent toward the path. Weeding is slow work, but it is \
        easier after a night of rain, when the roots come out of the soft ground in one piece. A wheelbarrow of cut \
        grass goes onto the compost heap, which steams slightly in the cool air. By the fence, the old pear tree \
        drops a few small fruit every day, and the wasps find them before anyone else does.

        In the early afternoon it is pleasant to walk along the river. The path follows the water past a row of \
        boats, a small stone bridge and a field where horses stand with their backs to the wind. Children throw \
        sticks from the bridge and run to the other side to see which one appears first. Further on, the path \
        climbs a gentle hill, and from the top you can see the roofs of the town, the church tower and the long \
        line of trees that marks the road to the station.

        When the clouds finally arrive, the light changes and the first drops fall on the dry leaves. People walk \
        a little faster, pull up their collars and look for a doorway or a café. Inside, the windows fog over, \
        cups of tea are carried to small tables, and conversations turn to plans for the weekend, the price of \
        vegetables at the market and whether the rain will last until evening.
        """

    /// The perplexity of the probe text under `model`.
    public static func perplexity(model: any TransformerModel, tokenizer: Tokenizer) -> Perplexity {
        perplexity(of: text, model: model, tokenizer: tokenizer)
    }

    /// exp(mean negative log-likelihood) of every predicted token of `text`. The token ids
    /// (BOS first when the tokenizer asks for it) are cut into windows of at most the context
    /// length, at most 256 tokens; each window's first token is context only, not predicted.
    public static func perplexity(of text: String, model: any TransformerModel, tokenizer: Tokenizer) -> Perplexity {
        let ids = FactTokenization.text(text, tokenizer: tokenizer)
        let window = max(2, min(256, model.configuration.contextLength))
        var nll = 0.0
        var predicted = 0
        var start = 0
        while start + 1 < ids.count {
            let chunk = Array(ids[start..<min(start + window, ids.count)])
            let logits = model.logits(prompt: chunk)  // (T, V)
            let V = logits.cols
            logits.values.withUnsafeBufferPointer { p in
                for t in 0..<(chunk.count - 1) {
                    nll -= logSoftmax(p.baseAddress! + t * V, V, at: chunk[t + 1])
                }
            }
            predicted += chunk.count - 1
            start += window
        }
        return Perplexity(value: predicted == 0 ? .nan : exp(nll / Double(predicted)), predictedTokens: predicted)
    }

    /// For each fact, whether every token of `" " + targetNew` is the argmax of the next-token
    /// distribution after the filled prompt and the target tokens before it (teacher forcing).
    /// - Throws: `SolverError` when a fact's subject or target does not tokenize.
    public static func topOne(model: any TransformerModel, tokenizer: Tokenizer, facts: [EditRequest]) throws -> [Bool] {
        let queries = try facts.map { fact in
            ScoringQuery(prompt: try FactTokenization.prompt(fact, tokenizer: tokenizer).ids,
                         target: try FactTokenization.target(fact.targetNew, label: fact.label, tokenizer: tokenizer))
        }
        if queries.isEmpty { return [] }
        return EvaluationScorer().score(model: model, queries: queries).map(\.allTop1)
    }

    /// ‖U Vᵀ‖_F from the factors (U: d_out × r, V: d_in × r), without forming the d_out × d_in
    /// matrix: ‖U Vᵀ‖² = Σ_ij (UᵀU)_ij (VᵀV)_ij, both r × r Gram matrices in Float64.
    public static func frobeniusNorm(u: Matrix<Float>, v: Matrix<Float>) -> Double {
        precondition(u.cols == v.cols, "U has \(u.cols) columns, V has \(v.cols)")
        if u.cols == 0 { return 0 }
        // Past min(d_out, d_in) stacked columns the dense product is cheaper than two r × r Grams.
        if u.cols > min(u.rows, v.rows) { return u.toDouble().multiplied(by: v.toDouble(), transposeOther: true).frobeniusNorm }
        let uu = u.toDouble().multiplied(by: u.toDouble(), transposeSelf: true)  // (r, r)
        let vv = v.toDouble().multiplied(by: v.toDouble(), transposeSelf: true)  // (r, r)
        var sum = 0.0
        for i in 0..<uu.values.count { sum += uu.values[i] * vv.values[i] }
        return sqrt(max(sum, 0))
    }

    /// log softmax(row)[index] in Float64 (row of `count` logits).
    static func logSoftmax(_ row: UnsafePointer<Float>, _ count: Int, at index: Int) -> Double {
        var maximum = -Double.infinity
        for i in 0..<count { maximum = max(maximum, Double(row[i])) }
        var sum = 0.0
        for i in 0..<count { sum += exp(Double(row[i]) - maximum) }
        return Double(row[index]) - maximum - log(sum)
    }
}

/// A perplexity and the number of tokens it averages over.
public struct Perplexity: Sendable, Equatable {
    public var value: Double
    public var predictedTokens: Int

    public init(value: Double, predictedTokens: Int) {
        self.value = value
        self.predictedTokens = predictedTokens
    }
}
