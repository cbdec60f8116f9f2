// mledit's benchmark harness: `MLEditBench <benchmark> [args]` runs one benchmark and prints one
// JSON object of figures on stdout. bench/run.sh runs each in its own process and writes
// bench/RESULTS.md. Timings are measured here, never asserted in tests.
import Foundation
import Tensors

BLASKernels.prepareProcess()
ComputeThreads.configure(count: ProcessInfo.processInfo.environment[ComputeThreads.variable].flatMap(ComputeThreads.parse))
let arguments = Array(CommandLine.arguments.dropFirst())
guard let name = arguments.first, let benchmark = Benchmarks.all[name] else {
    FileHandle.standardError.write(Data("usage: MLEditBench <\(Benchmarks.all.keys.sorted().joined(separator: "|"))> [args]\n".utf8))
    exit(64)
}
do {
    var figures = try benchmark(Array(arguments.dropFirst()))
    figures["peak_memory_mib"] = Measure.peakMemoryMiB
    figures["blas"] = BLASKernels.summary()
    let data = try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
} catch {
    FileHandle.standardError.write(Data("Error: \(error)\n".utf8))
    exit(1)
}
