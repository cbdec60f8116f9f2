// The one error type of the Models module: every message is one line naming the file, key or
// tensor involved and what was expected.

/// Errors raised while configuring or loading a model.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    /// A configuration key is absent.
    case missingKey(file: String, key: String)
    /// A configuration value is of the wrong kind or out of range.
    case invalidValue(file: String, key: String, reason: String)
    /// The configuration names an architecture mledit does not run.
    case unsupportedArchitecture(file: String, name: String)
    /// A feature the runtime does not implement (longrope, per-layer sliding windows, …).
    case unsupportedFeature(file: String, feature: String)
    /// A tensor the architecture needs is absent.
    case missingTensor(String)
    /// A tensor has another shape than the configuration implies.
    case tensorShape(String, expected: [Int], actual: [Int])
    /// The path is neither a .gguf file, a .safetensors file nor a folder holding one.
    case unrecognizedModelPath(String)
    /// Reading a checkpoint failed (the Checkpoints module's message, which names the file).
    case checkpoint(String)

    public var description: String {
        switch self {
        case let .missingKey(file, key): return "\(file): missing key '\(key)'"
        case let .invalidValue(file, key, reason): return "\(file): key '\(key)': \(reason)"
        case let .unsupportedArchitecture(file, name): return "\(file): unsupported architecture '\(name)' (expected llama, mistral, qwen2, phi3, gpt2 or gptj)"
        case let .unsupportedFeature(file, feature): return "\(file): unsupported: \(feature)"
        case let .missingTensor(name): return "missing tensor '\(name)'"
        case let .tensorShape(name, expected, actual):
            return "tensor '\(name)': expected shape \(expected), found \(actual)"
        case let .unrecognizedModelPath(path):
            return "\(path): not a .gguf file, a .safetensors file or a folder with model.safetensors and config.json"
        case let .checkpoint(message): return message
        }
    }
}
