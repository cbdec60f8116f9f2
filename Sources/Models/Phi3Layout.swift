// Phi-3 is the Llama architecture with two fused projections: `qkv_proj` holds the q, k and v
// rows one after the other (NH·HS, NKV·HS, NKV·HS), and `gate_up_proj` the gate rows then the up
// rows (F each). They are split on load into the canonical attn_q/k/v and ffn_gate/up tensors;
// the fused tensors themselves stay what the file holds, so an export writes them back unchanged.
// Canonically the fused tensors are attn_qkv and ffn_gate_up; llama.cpp's GGUF stores them as
// attn_qkv and ffn_up (its fused SwiGLU takes the first half of ffn_up's rows as the gate).

/// For a canonical tensor a Phi-3 checkpoint stores inside a fused one: that tensor's canonical
/// name, the rows that belong to `name` and the fused tensor's row count.
func phi3FusedSource(of name: String, configuration c: ModelConfiguration) -> (fused: String, rows: Range<Int>, fusedRows: Int)? {
    guard name.hasPrefix("blk.") else { return nil }
    let QW = c.headCount * c.headDimension, KVW = c.keyValueHeadCount * c.headDimension, F = c.intermediateSize
    let parts: [(suffix: String, fused: String, rows: Range<Int>)] = [
        ("attn_q.weight", "attn_qkv.weight", 0..<QW),
        ("attn_k.weight", "attn_qkv.weight", QW..<(QW + KVW)),
        ("attn_v.weight", "attn_qkv.weight", (QW + KVW)..<(QW + 2 * KVW)),
        ("ffn_gate.weight", "ffn_gate_up.weight", 0..<F),
        ("ffn_up.weight", "ffn_gate_up.weight", F..<(2 * F)),
    ]
    guard let part = parts.first(where: { name.hasSuffix("." + $0.suffix) }) else { return nil }
    return (name.dropLast(part.suffix.count) + part.fused, part.rows, part.fused == "attn_qkv.weight" ? QW + 2 * KVW : 2 * F)
}

/// Rows `rows` of a (R, cols) tensor.
/// - Throws: `ModelError.tensorShape` when the fused tensor has not the rows the configuration implies.
func fusedRows(_ tensor: WeightTensor, rows: Range<Int>, expectedRows: Int, name: String) throws -> WeightTensor {
    guard tensor.shape.count == 2, tensor.shape[0] == expectedRows else {
        throw ModelError.tensorShape(name, expected: [expectedRows, tensor.shape.last ?? 0], actual: tensor.shape)
    }
    let cols = tensor.shape[1]
    return WeightTensor(shape: [rows.count, cols],
                        values: Array(tensor.values[(rows.lowerBound * cols)..<(rows.upperBound * cols)]))
}
