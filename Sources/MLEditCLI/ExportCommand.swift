// `mledit export`: write a version of the model as an ordinary checkpoint — a GGUF copy of the
// base with the edited tensors merged, a Hugging Face folder, or the edits alone as a PEFT LoRA
// adapter. Outside a repository, `--model PATH` converts a checkpoint as it is. The merging
// (base + Σ U Vᵀ for the edited tensors only) happens here; the writing is Models' CheckpointExport.
import Checkpoints
import Foundation
import Ledger
import Models
import Tensors

enum ExportCommand {
    enum Format: String, CaseIterable {
        case gguf, safetensors, lora
    }

    static let spec = CommandSpec(
        name: "export",
        abstract: "Write a version of the model as a GGUF file, a Hugging Face folder or a LoRA adapter.",
        discussion: """
            GGUF: every tensor that was not edited is copied byte for byte in its stored type; edited \
            tensors are written merged (base + edits) in F16 unless --dtype or --requantize says \
            otherwise, and the metadata records the version (mledit.commit, mledit.base_sha256). \
            safetensors: a folder with model.safetensors, config.json and the tokenizer that Hugging \
            Face transformers loads. lora: the version's edits relative to its base as a PEFT adapter.
            """,
        options: [
            OptionSpec(["--output", "-o"], value: "PATH", help: "Where to write: a .gguf file, or a folder for safetensors and lora (required)."),
            OptionSpec(["--at"], value: "REV", help: "The version to export (default HEAD)."),
            OptionSpec(["--format"], value: "FORMAT", help: "gguf, safetensors or lora (default: the base model's format)."),
            OptionSpec(["--dtype"], value: "TYPE", help: "f16, f32 or bf16: edited tensors in GGUF (default f16), all tensors in safetensors (default: the source's), LoRA factors (default f32)."),
            OptionSpec(["--requantize"], value: "TYPE", help: "GGUF only: re-quantize edited tensors to q8_0, q4_0 or q4_1 (warns with the measured loss)."),
            OptionSpec(["--model"], value: "PATH", help: "Convert this checkpoint as it is, without a repository."),
            OptionSpec(["--force"], help: "Write over a file, or into a folder, that no export wrote (a folder keeps its other files)."),
            OptionSpec(["--json"], help: "Print JSON: output, format, version, edited tensors, re-quantization effects."),
        ],
        run: run)

    /// What is exported: a checkpoint and, inside a repository, a version's edits of it.
    struct Source {
        var url: URL
        var commitID: String?
        var baseDigest: String?
        /// Canonical tensor name → the lineage's deltas, oldest first.
        var deltas: [(tensor: String, layer: Int, deltas: [LowRankDelta<Float>])]
    }

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        guard let outputPath = arguments.value("--output") else {
            throw UsageError("missing option --output PATH", command: "export")
        }
        let output = console.url(forPath: outputPath)
        var format: Format?
        if let text = arguments.value("--format") {
            guard let parsed = Format(rawValue: text.lowercased()) else {
                throw UsageError("--format expects gguf, safetensors or lora, got '\(text)'", command: "export")
            }
            format = parsed
        }
        var precision: ExportPrecision?
        if let text = arguments.value("--dtype") {
            guard let parsed = ExportPrecision(rawValue: text.lowercased()) else {
                throw UsageError("--dtype expects f16, f32 or bf16, got '\(text)'", command: "export")
            }
            precision = parsed
        }
        var requantize: GGMLType?
        if let text = arguments.value("--requantize") {
            let choices: [String: GGMLType] = ["q8_0": .q8_0, "q4_0": .q4_0, "q4_1": .q4_1]
            guard let parsed = choices[text.lowercased()] else {
                throw UsageError("--requantize expects q8_0, q4_0 or q4_1, got '\(text)'", command: "export")
            }
            requantize = parsed
        }
        if arguments.value("--model") != nil, arguments.value("--at") != nil {
            throw UsageError("--at selects a version of a repository; --model exports a checkpoint as it is", command: "export")
        }

        let source = try resolveSource(arguments, console: console)
        let chosen = format ?? (ModelResolution.isGGUF(source.url) ? .gguf : .safetensors)
        if requantize != nil && chosen != .gguf {
            throw UsageError("--requantize applies to --format gguf only", command: "export")
        }
        if requantize != nil && precision != nil {
            throw UsageError("give either --dtype or --requantize for the edited tensors, not both", command: "export")
        }
        let repository = (try? RepositoryLocator.find(console: console, required: false)) ?? nil
        let models = try OutputSafety.checkpoints(source: source.url, repository: repository)
        try OutputSafety.check(output, kind: chosen == .gguf ? .file(isPreviousOutput: OutputSafety.isExportedGGUF) : .folder,
                               repository: repository, models: models, force: arguments.flag("--force"))

        var summary: [String: Any] = ["output": output.path, "format": chosen.rawValue, "source": source.url.path]
        if let commitID = source.commitID { summary["version"] = commitID }
        summary["edited_tensors"] = source.deltas.map(\.tensor)

        switch chosen {
        case .gguf:
            guard ModelResolution.isGGUF(source.url) else {
                throw CommandFailure("--format gguf needs a GGUF base model; \(source.url.path) is a Hugging Face checkpoint (use --format safetensors)")
            }
            let overrides = try mergedTensors(source)
            let file = try openGGUF(source.url)
            var metadata = [GGUFMetadataEntry(key: "mledit.exporter", value: .string("mledit \(MLEditCommandLine.version)"))]
            if let commitID = source.commitID { metadata.append(GGUFMetadataEntry(key: "mledit.commit", value: .string(commitID))) }
            if let digest = source.baseDigest { metadata.append(GGUFMetadataEntry(key: "mledit.base_sha256", value: .string(digest))) }
            if !overrides.isEmpty {
                metadata.append(GGUFMetadataEntry(key: "mledit.edited_tensors",
                                                  value: .array(.string, overrides.keys.sorted().map { .string($0) })))
            }
            let report = try CheckpointExport.writeGGUF(source: file, overrides: overrides, precision: precision ?? .f16,
                                                        requantize: requantize, extraMetadata: metadata, to: output)
            var effects: [[String: Any]] = []
            for tensor in report.replacedTensors {
                guard let effect = tensor.requantization else { continue }
                console.note(String(format: "warning: %@ re-quantized to %@: relative error %.3g of the merged tensor; %.1f%% of the edit survives along its direction (the delta now carried is off by %.1f%% of ‖Δ‖ = %.4g)",
                                    tensor.name, tensor.type.name, effect.relativeError, 100 * effect.deltaRetained,
                                    100 * effect.deltaRelativeError, effect.deltaNorm))
                effects.append(["tensor": tensor.name, "type": tensor.type.name, "relative_error": effect.relativeError,
                                "delta_retained": effect.deltaRetained, "delta_relative_error": effect.deltaRelativeError,
                                "delta_norm": effect.deltaNorm])
            }
            summary["copied_tensors"] = report.copiedTensorCount
            if !effects.isEmpty { summary["requantization"] = effects }
            if !arguments.flag("--json") {
                let types = Set(report.replacedTensors.map(\.type.name)).sorted().joined(separator: "/")
                console.print("Wrote \(output.path): \(report.copiedTensorCount) tensors copied, \(report.replacedTensors.count) edited\(types.isEmpty ? "" : " (\(types))")\(versionSuffix(source))")
            }
        case .safetensors:
            let overrides = try mergedTensors(source)
            let report = try CheckpointExport.writeHuggingFace(source: source.url, overrides: overrides, precision: precision, to: output,
                                                              replacingForeignFiles: arguments.flag("--force"))
            summary["files"] = report.files
            summary["dtype"] = report.precision.rawValue
            if !arguments.flag("--json") {
                console.print("Wrote \(output.path)/: \(report.files.joined(separator: ", ")); \(report.tensorNames.count) tensors in \(report.precision.rawValue.uppercased()), \(overrides.count) edited\(versionSuffix(source))")
            }
        case .lora:
            guard source.commitID != nil else {
                throw CommandFailure("a LoRA adapter holds a version's edits; export one from inside a repository (--at REV)")
            }
            let (configuration, _, _) = try ModelLoader.open(url: source.url)
            try checkFits(source, configuration)
            var loraDeltas: [LoRADelta] = []
            for entry in source.deltas {
                guard let combined = try Materializer.combined(entry.deltas, tensor: entry.tensor) else { continue }
                loraDeltas.append(LoRADelta(tensor: entry.tensor, u: combined.u, v: combined.v))
            }
            guard !loraDeltas.isEmpty else {
                throw CommandFailure("version \(source.commitID?.prefix(12) ?? "") has no edits to export as an adapter")
            }
            let report = try CheckpointExport.writeLoRA(deltas: loraDeltas, configuration: configuration,
                                                        baseModelName: source.url.path, precision: precision ?? .f32, to: output,
                                                        replacingForeignFiles: arguments.flag("--force"))
            summary["ranks"] = report.ranks
            summary["target_modules"] = report.targetModules
            if !arguments.flag("--json") {
                let ranks = report.ranks.sorted { $0.key.localizedStandardCompare($1.key) == .orderedAscending }
                    .map { "\($0.key) r=\($0.value)" }.joined(separator: ", ")
                console.print("Wrote \(output.path)/: adapter_config.json, adapter_model.safetensors (\(ranks))\(versionSuffix(source))")
            }
        }
        if arguments.flag("--json") { try console.printJSON(summary) }
    }

    static func versionSuffix(_ source: Source) -> String {
        source.commitID.map { " at \($0.prefix(12))" } ?? ""
    }

    /// The checkpoint and edits to export: `--model` as it is, else the repository's version.
    static func resolveSource(_ arguments: ParsedArguments, console: Console) throws -> Source {
        if let path = arguments.value("--model") {
            return Source(url: try ModelResolution.existing(console.url(forPath: path)), commitID: nil, baseDigest: nil, deltas: [])
        }
        let repository = try RepositoryLocator.require(console)
        let commitID: String?
        if let revision = arguments.value("--at") {
            commitID = try repository.resolve(revision)
        } else {
            commitID = try repository.head().commitID
        }
        let record = try VersionLoader.baseModel(of: repository, commitID: commitID)
        var deltas: [(tensor: String, layer: Int, deltas: [LowRankDelta<Float>])] = []
        if let commitID {
            let lineage = try repository.lineageDeltas(at: commitID)
            for tensor in lineage.keys.sorted(by: { $0.localizedStandardCompare($1) == .orderedAscending }) {
                let decoded = try (lineage[tensor] ?? []).map { record -> LowRankDelta<Float> in
                    do {
                        return try repository.decodeDelta(commit: record.commitID, tensor: tensor)
                    } catch {
                        throw CommandFailure("the delta of \(tensor) in commit \(record.commitID.prefix(12)) cannot be read (\(MLEditCommandLine.oneLine(error))); nothing was written. Run 'mledit fsck'")
                    }
                }
                deltas.append((tensor, lineage[tensor]?.first?.layer ?? -1, decoded))
            }
        }
        return Source(url: URL(fileURLWithPath: record.path), commitID: commitID, baseDigest: record.sha256, deltas: deltas)
    }

    /// Base + Σ U Vᵀ for every edited tensor, in the internal convention; nothing else is read.
    static func mergedTensors(_ source: Source) throws -> [String: Matrix<Float>] {
        guard !source.deltas.isEmpty else { return [:] }
        let (configuration, weights, _) = try ModelLoader.open(url: source.url)
        try checkFits(source, configuration)
        var merged: [String: Matrix<Float>] = [:]
        for entry in source.deltas {
            guard let tensor = try weights.tensor(named: entry.tensor) else { throw ModelError.missingTensor(entry.tensor) }
            guard tensor.shape.count == 2 else {
                throw CommandFailure("edited tensor \(entry.tensor) has shape \(tensor.shape); a matrix was expected")
            }
            let base = Matrix<Float>(rows: tensor.shape[0], cols: tensor.shape[1], values: tensor.values)
            merged[entry.tensor] = try Materializer.apply(base: base, deltas: entry.deltas, tensor: entry.tensor)
        }
        return merged
    }

    static func checkFits(_ source: Source, _ configuration: ModelConfiguration) throws {
        try VersionLoader.checkFits(Dictionary(uniqueKeysWithValues: source.deltas.map { entry in
            (entry.tensor, entry.deltas.map { (entry.layer, $0.rows, $0.cols) })
        }), configuration: configuration, commitID: source.commitID ?? "")
    }

    static func openGGUF(_ url: URL) throws -> GGUFFile {
        do {
            return try GGUFFile(contentsOf: url)
        } catch let error as CheckpointError {
            throw CommandFailure(error.description)
        }
    }
}
