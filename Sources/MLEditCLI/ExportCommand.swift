// `mledit export`: write a version of the model as an ordinary checkpoint — a GGUF copy of the
// base with the edited tensors merged, a Hugging Face folder, or the edits alone as a PEFT LoRA
// adapter. Outside a repository, `--model PATH` converts a checkpoint as it is. The merging
// (base + Σ U Vᵀ for the edited tensors only) happens here; the writing is Models' CheckpointExport.
import Checkpoints
import Foundation
import MLEdit
import Models

enum ExportCommand {
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

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        guard let outputPath = arguments.value("--output") else {
            throw UsageError("missing option --output PATH", command: "export")
        }
        let output = console.url(forPath: outputPath)
        var format: ExportFormat?
        if let text = arguments.value("--format") {
            guard let parsed = ExportFormat(rawValue: text.lowercased()) else {
                throw UsageError("--format expects gguf, safetensors or lora, got '\(text)'", command: "export")
            }
            format = parsed
        }
        var options = ExportOptions(force: arguments.flag("--force"))
        if let text = arguments.value("--dtype") {
            guard let parsed = ExportPrecision(rawValue: text.lowercased()) else {
                throw UsageError("--dtype expects f16, f32 or bf16, got '\(text)'", command: "export")
            }
            options.precision = parsed
        }
        if let text = arguments.value("--requantize") {
            let choices: [String: GGMLType] = ["q8_0": .q8_0, "q4_0": .q4_0, "q4_1": .q4_1]
            guard let parsed = choices[text.lowercased()] else {
                throw UsageError("--requantize expects q8_0, q4_0 or q4_1, got '\(text)'", command: "export")
            }
            options.requantize = parsed
        }
        if arguments.value("--model") != nil, arguments.value("--at") != nil {
            throw UsageError("--at selects a version of a repository; --model exports a checkpoint as it is", command: "export")
        }

        let source: ExportSource
        if let path = arguments.value("--model") {
            source = try ExportSource.checkpoint(console.url(forPath: path))
        } else {
            source = try Workspace(repository: try RepositoryLocator.require(console), session: console.session)
                .exportSource(at: arguments.value("--at"))
        }
        let chosen = format ?? source.naturalFormat
        if options.requantize != nil && chosen != .gguf {
            throw UsageError("--requantize applies to --format gguf only", command: "export")
        }
        if options.requantize != nil && options.precision != nil {
            throw UsageError("give either --dtype or --requantize for the edited tensors, not both", command: "export")
        }
        let repository = (try? RepositoryLocator.find(console: console, required: false)) ?? nil
        let outcome = try Exporter.write(source, format: chosen, to: output, options: options, repository: repository,
                                         session: console.session)

        var summary: [String: Any] = ["output": output.path, "format": chosen.rawValue, "source": source.url.path]
        if let commitID = source.commitID { summary["version"] = commitID }
        summary["edited_tensors"] = source.deltas.map(\.tensor)
        let json = arguments.flag("--json")
        switch outcome {
        case .gguf(let report):
            var effects: [[String: Any]] = []
            for tensor in report.replacedTensors {
                guard let effect = tensor.requantization else { continue }
                effects.append(["tensor": tensor.name, "type": tensor.type.name, "relative_error": effect.relativeError,
                                "delta_retained": effect.deltaRetained, "delta_relative_error": effect.deltaRelativeError,
                                "delta_norm": effect.deltaNorm])
            }
            summary["copied_tensors"] = report.copiedTensorCount
            if !effects.isEmpty { summary["requantization"] = effects }
            if !json {
                let types = Set(report.replacedTensors.map(\.type.name)).sorted().joined(separator: "/")
                console.print("Wrote \(output.path): \(report.copiedTensorCount) tensors copied, \(report.replacedTensors.count) edited\(types.isEmpty ? "" : " (\(types))")\(versionSuffix(source))")
            }
        case .safetensors(let report, let edited):
            summary["files"] = report.files
            summary["dtype"] = report.precision.rawValue
            if !json {
                console.print("Wrote \(output.path)/: \(report.files.joined(separator: ", ")); \(report.tensorNames.count) tensors in \(report.precision.rawValue.uppercased()), \(edited) edited\(versionSuffix(source))")
            }
        case .lora(let report):
            summary["ranks"] = report.ranks
            summary["target_modules"] = report.targetModules
            if !json {
                let ranks = report.ranks.sorted { $0.key.localizedStandardCompare($1.key) == .orderedAscending }
                    .map { "\($0.key) r=\($0.value)" }.joined(separator: ", ")
                console.print("Wrote \(output.path)/: adapter_config.json, adapter_model.safetensors (\(ranks))\(versionSuffix(source))")
            }
        }
        if json { try console.printJSON(summary) }
    }

    static func versionSuffix(_ source: ExportSource) -> String {
        source.commitID.map { " at \($0.prefix(12))" } ?? ""
    }
}
