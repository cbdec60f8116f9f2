// Exporting a version of the model as an ordinary checkpoint: a GGUF copy of the base with the
// edited tensors merged, a Hugging Face folder, or the edits alone as a PEFT LoRA adapter. The
// merging (base + Σ U Vᵀ for the edited tensors only) happens here; the writing is Models'
// CheckpointExport. Nothing is written where OutputSafety refuses.
import Checkpoints
import Foundation
import Ledger
import Models
import Solvers
import Tensors

public enum ExportFormat: String, CaseIterable, Sendable {
    case gguf, safetensors, lora
}

/// What is exported: a checkpoint and, inside a repository, a version's edits of it.
public struct ExportSource {
    public var url: URL
    public var commitID: String?
    public var baseDigest: String?
    /// Canonical tensor name → the lineage's deltas, oldest first.
    public var deltas: [(tensor: String, layer: Int, deltas: [LowRankDelta<Float>])]

    /// A checkpoint as it is on disk, without edits.
    public static func checkpoint(_ url: URL) throws -> ExportSource {
        ExportSource(url: try ModelResolution.existing(url), commitID: nil, baseDigest: nil, deltas: [])
    }

    /// The format a source is written in when none is asked for: that of its checkpoint.
    public var naturalFormat: ExportFormat { ModelResolution.isGGUF(url) ? .gguf : .safetensors }
}

public struct ExportOptions {
    /// The type of edited tensors (nil: F16 for GGUF, the checkpoint's for safetensors, F32 for LoRA).
    public var precision: ExportPrecision?
    /// Re-quantize the edited tensors of a GGUF export to this type instead.
    public var requantize: GGMLType?
    /// Replace a file or the files of a folder that no export wrote.
    public var force = false

    public init(precision: ExportPrecision? = nil, requantize: GGMLType? = nil, force: Bool = false) {
        self.precision = precision
        self.requantize = requantize
        self.force = force
    }
}

/// What an export wrote.
public enum ExportOutcome {
    case gguf(GGUFExportReport)
    case safetensors(HuggingFaceExportReport, editedTensors: Int)
    case lora(LoRAExportReport)
}

/// The name the exporter records in a GGUF's metadata.
public let mleditVersion = "0.1.0"

extension Workspace {
    /// The version `revision` names (nil: HEAD) as an export source: its base model and the
    /// lineage's deltas.
    /// - Throws: `MLEditError(.damaged)` for a delta that cannot be read; base-model and ledger errors.
    public func exportSource(at revision: String? = nil) throws -> ExportSource {
        let commitID = try revision.map { try repository.resolve($0) } ?? repository.head().commitID
        let record = try VersionLoader.baseModel(of: repository, commitID: commitID)
        var deltas: [(tensor: String, layer: Int, deltas: [LowRankDelta<Float>])] = []
        if let commitID {
            let lineage = try repository.lineageDeltas(at: commitID)
            for tensor in lineage.keys.sorted(by: { $0.localizedStandardCompare($1) == .orderedAscending }) {
                let decoded = try (lineage[tensor] ?? []).map { record -> LowRankDelta<Float> in
                    do {
                        return try repository.decodeDelta(commit: record.commitID, tensor: tensor)
                    } catch {
                        throw MLEditError(.damaged, "the delta of \(tensor) in commit \(record.commitID.prefix(12)) cannot be read (\(MLEditError.oneLine(error))); nothing was written. Run 'mledit fsck'")
                    }
                }
                deltas.append((tensor, lineage[tensor]?.first?.layer ?? -1, decoded))
            }
        }
        return ExportSource(url: URL(fileURLWithPath: record.path), commitID: commitID, baseDigest: record.sha256, deltas: deltas)
    }

    /// Writes the version `revision` names (nil: HEAD) to `output`.
    public func export(at revision: String? = nil, format: ExportFormat? = nil, to output: URL,
                       options: ExportOptions = ExportOptions()) throws -> ExportOutcome {
        let source = try exportSource(at: revision)
        return try Exporter.write(source, format: format ?? source.naturalFormat, to: output, options: options,
                                  repository: repository, session: session)
    }
}

public enum Exporter {
    /// Writes `source` as `format` to `output`, after checking that `output` touches neither
    /// `repository`'s own files nor a checkpoint it reads. Re-quantization warnings go to the
    /// session's notes.
    /// - Throws: `MLEditError` (.invalidInput for an unsafe output or a format the source cannot
    ///   take), checkpoint and model errors.
    public static func write(_ source: ExportSource, format: ExportFormat, to output: URL, options: ExportOptions,
                             repository: Repository?, session: Session) throws -> ExportOutcome {
        let models = try OutputSafety.checkpoints(source: source.url, repository: repository)
        try OutputSafety.check(output, kind: format == .gguf ? .file(isPreviousOutput: OutputSafety.isExportedGGUF) : .folder,
                               repository: repository, models: models, force: options.force)
        switch format {
        case .gguf:
            guard ModelResolution.isGGUF(source.url) else {
                throw MLEditError(.invalidInput, "--format gguf needs a GGUF base model; \(source.url.path) is a Hugging Face checkpoint (use --format safetensors)")
            }
            let overrides = try mergedTensors(source)
            let file = try openGGUF(source.url)
            var metadata = [GGUFMetadataEntry(key: "mledit.exporter", value: .string("mledit \(mleditVersion)"))]
            if let commitID = source.commitID { metadata.append(GGUFMetadataEntry(key: "mledit.commit", value: .string(commitID))) }
            if let digest = source.baseDigest { metadata.append(GGUFMetadataEntry(key: "mledit.base_sha256", value: .string(digest))) }
            if !overrides.isEmpty {
                metadata.append(GGUFMetadataEntry(key: "mledit.edited_tensors",
                                                  value: .array(.string, overrides.keys.sorted().map { .string($0) })))
            }
            let report = try CheckpointExport.writeGGUF(source: file, overrides: overrides, precision: options.precision ?? .f16,
                                                        requantize: options.requantize, extraMetadata: metadata, to: output)
            for tensor in report.replacedTensors {
                guard let effect = tensor.requantization else { continue }
                session.note(String(format: "warning: %@ re-quantized to %@: relative error %.3g of the merged tensor; %.1f%% of the edit survives along its direction (the delta now carried is off by %.1f%% of ‖Δ‖ = %.4g)",
                                    tensor.name, tensor.type.name, effect.relativeError, 100 * effect.deltaRetained,
                                    100 * effect.deltaRelativeError, effect.deltaNorm))
            }
            return .gguf(report)
        case .safetensors:
            let overrides = try mergedTensors(source)
            let report = try CheckpointExport.writeHuggingFace(source: source.url, overrides: overrides, precision: options.precision,
                                                              to: output, replacingForeignFiles: options.force)
            return .safetensors(report, editedTensors: overrides.count)
        case .lora:
            guard source.commitID != nil else {
                throw MLEditError(.invalidInput, "a LoRA adapter holds a version's edits; export one from inside a repository (--at REV)")
            }
            let (configuration, _, _) = try ModelLoader.open(url: source.url)
            try checkFits(source, configuration)
            var loraDeltas: [LoRADelta] = []
            for entry in source.deltas {
                guard let combined = try Materializer.combined(entry.deltas, tensor: entry.tensor) else { continue }
                loraDeltas.append(LoRADelta(tensor: entry.tensor, u: combined.u, v: combined.v))
            }
            guard !loraDeltas.isEmpty else {
                throw MLEditError(.invalidInput, "version \(source.commitID?.prefix(12) ?? "") has no edits to export as an adapter")
            }
            return .lora(try CheckpointExport.writeLoRA(deltas: loraDeltas, configuration: configuration,
                                                        baseModelName: source.url.path, precision: options.precision ?? .f32,
                                                        to: output, replacingForeignFiles: options.force))
        }
    }

    /// Base + Σ U Vᵀ for every edited tensor, in the internal convention; nothing else is read.
    static func mergedTensors(_ source: ExportSource) throws -> [String: Matrix<Float>] {
        guard !source.deltas.isEmpty else { return [:] }
        let (configuration, weights, _) = try ModelLoader.open(url: source.url)
        try checkFits(source, configuration)
        var merged: [String: Matrix<Float>] = [:]
        for entry in source.deltas {
            guard let tensor = try weights.tensor(named: entry.tensor) else { throw ModelError.missingTensor(entry.tensor) }
            guard tensor.shape.count == 2 else {
                throw MLEditError(.damaged, "edited tensor \(entry.tensor) has shape \(tensor.shape); a matrix was expected")
            }
            let base = Matrix<Float>(rows: tensor.shape[0], cols: tensor.shape[1], values: tensor.values)
            merged[entry.tensor] = try Materializer.apply(base: base, deltas: entry.deltas, tensor: entry.tensor)
        }
        return merged
    }

    static func checkFits(_ source: ExportSource, _ configuration: ModelConfiguration) throws {
        try VersionLoader.checkFits(Dictionary(uniqueKeysWithValues: source.deltas.map { entry in
            (entry.tensor, entry.deltas.map { (entry.layer, $0.rows, $0.cols) })
        }), configuration: configuration, commitID: source.commitID ?? "")
    }

    static func openGGUF(_ url: URL) throws -> GGUFFile {
        do {
            return try GGUFFile(contentsOf: url)
        } catch let error as CheckpointError {
            throw MLEditError(.damaged, error.description)
        }
    }
}
