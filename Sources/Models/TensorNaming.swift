// One internal tensor naming whatever the source: the GGUF names (`blk.N.ffn_down.weight`) are
// canonical; Hugging Face Llama (`model.layers.N.mlp.down_proj.weight`, also Mistral, Qwen2 and
// Phi-3), GPT-2 (`h.N.mlp.c_proj.weight`, optionally prefixed `transformer.`) and GPT-J
// (`transformer.h.N.mlp.fc_out.weight`, table in GPTJModel.swift) names map onto them.
// Naming only: the layout conversions (transposes, Q/K row order) are in ModelLoader.swift.

/// Maps checkpoint tensor names to and from the canonical (GGUF) names.
public enum TensorNaming {
    private static let llamaBlock: [(hf: String, canonical: String)] = [
        ("input_layernorm.weight", "attn_norm.weight"),
        ("self_attn.q_proj.weight", "attn_q.weight"), ("self_attn.q_proj.bias", "attn_q.bias"),
        ("self_attn.k_proj.weight", "attn_k.weight"), ("self_attn.k_proj.bias", "attn_k.bias"),
        ("self_attn.v_proj.weight", "attn_v.weight"), ("self_attn.v_proj.bias", "attn_v.bias"),
        ("self_attn.o_proj.weight", "attn_output.weight"),
        ("post_attention_layernorm.weight", "ffn_norm.weight"),
        ("mlp.gate_proj.weight", "ffn_gate.weight"), ("mlp.up_proj.weight", "ffn_up.weight"),
        ("mlp.down_proj.weight", "ffn_down.weight"),
        // Phi-3's fused projections, split on load (Phi3Layout.swift).
        ("self_attn.qkv_proj.weight", "attn_qkv.weight"), ("mlp.gate_up_proj.weight", "ffn_gate_up.weight"),
    ]
    private static let llamaGlobal: [(hf: String, canonical: String)] = [
        ("model.embed_tokens.weight", "token_embd.weight"), ("model.norm.weight", "output_norm.weight"),
        ("lm_head.weight", "output.weight"),
    ]
    /// Gemma-3: sandwich norms and Q/K norms; its post_attention_layernorm is the norm *after*
    /// attention (llama.cpp's post_attention_norm), not Llama's pre-MLP norm.
    private static let gemma3Block: [(hf: String, canonical: String)] = [
        ("input_layernorm.weight", "attn_norm.weight"),
        ("self_attn.q_proj.weight", "attn_q.weight"), ("self_attn.k_proj.weight", "attn_k.weight"),
        ("self_attn.v_proj.weight", "attn_v.weight"), ("self_attn.o_proj.weight", "attn_output.weight"),
        ("self_attn.q_norm.weight", "attn_q_norm.weight"), ("self_attn.k_norm.weight", "attn_k_norm.weight"),
        ("post_attention_layernorm.weight", "post_attention_norm.weight"),
        ("pre_feedforward_layernorm.weight", "ffn_norm.weight"),
        ("post_feedforward_layernorm.weight", "post_ffw_norm.weight"),
        ("mlp.gate_proj.weight", "ffn_gate.weight"), ("mlp.up_proj.weight", "ffn_up.weight"),
        ("mlp.down_proj.weight", "ffn_down.weight"),
    ]
    private static let gpt2Block: [(hf: String, canonical: String)] = [
        ("ln_1.weight", "attn_norm.weight"), ("ln_1.bias", "attn_norm.bias"),
        ("attn.c_attn.weight", "attn_qkv.weight"), ("attn.c_attn.bias", "attn_qkv.bias"),
        ("attn.c_proj.weight", "attn_output.weight"), ("attn.c_proj.bias", "attn_output.bias"),
        ("ln_2.weight", "ffn_norm.weight"), ("ln_2.bias", "ffn_norm.bias"),
        ("mlp.c_fc.weight", "ffn_up.weight"), ("mlp.c_fc.bias", "ffn_up.bias"),
        ("mlp.c_proj.weight", "ffn_down.weight"), ("mlp.c_proj.bias", "ffn_down.bias"),
    ]
    private static let gpt2Global: [(hf: String, canonical: String)] = [
        ("wte.weight", "token_embd.weight"), ("wpe.weight", "position_embd.weight"),
        ("ln_f.weight", "output_norm.weight"), ("ln_f.bias", "output_norm.bias"), ("lm_head.weight", "output.weight"),
    ]

    /// The canonical name of the MLP output projection of block `layer` (d_model × d_ff), the
    /// weight every edit changes: `blk.N.ffn_down.weight`.
    public static func mlpOutputWeight(layer: Int) -> String { "blk.\(layer).ffn_down.weight" }

    /// The canonical name of a Hugging Face tensor, or nil for tensors the runtime does not use
    /// (GPT-2's causal-mask buffers, rotary caches).
    public static func canonicalName(huggingFace name: String, architecture: Architecture) -> String? {
        switch architecture {
        case .llama:
            if let global = llamaGlobal.first(where: { $0.hf == name }) { return global.canonical }
            return blockName(name, prefix: "model.layers.", table: llamaBlock)
        case .gemma3:
            if let global = llamaGlobal.first(where: { $0.hf == name }) { return global.canonical }
            return blockName(name, prefix: "model.layers.", table: gemma3Block)
        case .gpt2:
            let bare = name.hasPrefix("transformer.") ? String(name.dropFirst("transformer.".count)) : name
            if let global = gpt2Global.first(where: { $0.hf == bare }) { return global.canonical }
            return blockName(bare, prefix: "h.", table: gpt2Block)
        case .gptj:
            if let global = gptjGlobal.first(where: { $0.hf == name }) { return global.canonical }
            return blockName(name, prefix: "transformer.h.", table: gptjBlock)
        }
    }

    /// The Hugging Face name of a canonical tensor (GPT-2 names without the `transformer.` prefix,
    /// GPT-J names with it).
    public static func huggingFaceName(canonical name: String, architecture: Architecture) -> String? {
        let (global, block, prefix) = switch architecture {
        case .llama: (llamaGlobal, llamaBlock, "model.layers.")
        case .gpt2: (gpt2Global, gpt2Block, "h.")
        case .gptj: (gptjGlobal, gptjBlock, "transformer.h.")
        case .gemma3: (llamaGlobal, gemma3Block, "model.layers.")
        }
        if let entry = global.first(where: { $0.canonical == name }) { return entry.hf }
        guard name.hasPrefix("blk.") else { return nil }
        let rest = name.dropFirst(4)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]) else { return nil }
        let suffix = String(rest[rest.index(after: dot)...])
        guard let entry = block.first(where: { $0.canonical == suffix }) else { return nil }
        return "\(prefix)\(layer).\(entry.hf)"
    }

    /// Whether a Hugging Face GPT-2 tensor is a Conv1D weight stored in × out (transposed).
    public static func isConv1DWeight(huggingFace name: String) -> Bool {
        name.hasSuffix("attn.c_attn.weight") || name.hasSuffix("attn.c_proj.weight")
            || name.hasSuffix("mlp.c_fc.weight") || name.hasSuffix("mlp.c_proj.weight")
    }

    private static func blockName(_ name: String, prefix: String, table: [(hf: String, canonical: String)]) -> String? {
        guard name.hasPrefix(prefix) else { return nil }
        let rest = name.dropFirst(prefix.count)
        guard let dot = rest.firstIndex(of: "."), let layer = Int(rest[..<dot]), layer >= 0 else { return nil }
        let suffix = String(rest[rest.index(after: dot)...])
        guard let entry = table.first(where: { $0.hf == suffix }) else { return nil }
        return "blk.\(layer).\(entry.canonical)"
    }
}
