// The one error type of the Checkpoints module: every failure to read, validate or write a GGUF or
// safetensors file. Messages are a single line naming the file and, where it applies, the byte
// offset, metadata key or tensor. It deliberately carries no model-level meaning.

/// A problem with a checkpoint file or with a request made of one.
public enum CheckpointError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file could not be opened, read, created or renamed.
    case io(file: String, reason: String)
    /// Fewer bytes remain than the field at `offset` needs.
    case truncated(file: String, offset: Int, field: String, needed: Int, available: Int)
    /// The file does not start with the format's magic bytes.
    case badMagic(file: String, found: String)
    /// The format version is one we do not read.
    case unsupportedVersion(file: String, version: UInt32)
    /// A structural rule of the format is broken at `offset` (a header offset when given).
    case malformed(file: String, offset: Int?, reason: String)
    /// A tensor's description or data is inconsistent.
    case invalidTensor(file: String, tensor: String, reason: String)
    /// No tensor of that name exists in the file.
    case tensorNotFound(file: String, tensor: String)
    /// The tensor's element type cannot be converted to Float32 (or written) by this module.
    case unsupportedType(file: String, tensor: String, type: String)
    /// A writer was given something it cannot write.
    case invalidArgument(file: String?, reason: String)

    public var description: String {
        // Names and keys are read from the file and may hold control characters; escaping them
        // keeps the message on one line.
        var line = ""
        for scalar in message.unicodeScalars {
            if scalar.properties.generalCategory == .control || scalar == "\u{2028}" || scalar == "\u{2029}" {
                line += scalar.escaped(asASCII: true)
            } else {
                line.unicodeScalars.append(scalar)
            }
        }
        return line
    }

    private var message: String {
        switch self {
        case let .io(file, reason):
            return "\(file): \(reason)"
        case let .truncated(file, offset, field, needed, available):
            return "\(file): truncated at byte offset \(offset): \(field) needs \(needed) bytes, only \(available) left"
        case let .badMagic(file, found):
            return "\(file): wrong magic at byte offset 0: found \(found)"
        case let .unsupportedVersion(file, version):
            return "\(file): unsupported version \(version) at byte offset 4 (expected 2 or 3)"
        case let .malformed(file, offset, reason):
            if let offset { return "\(file): at byte offset \(offset): \(reason)" }
            return "\(file): \(reason)"
        case let .invalidTensor(file, tensor, reason):
            return "\(file): tensor '\(tensor)': \(reason)"
        case let .tensorNotFound(file, tensor):
            return "\(file): no tensor named '\(tensor)'"
        case let .unsupportedType(file, tensor, type):
            return "\(file): tensor '\(tensor)': type \(type) is not supported here"
        case let .invalidArgument(file, reason):
            if let file { return "\(file): \(reason)" }
            return reason
        }
    }
}
