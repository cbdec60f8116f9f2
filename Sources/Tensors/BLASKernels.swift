// Which BLAS kernels this process runs with, and the start-up choice of better ones.
// Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) does not recognise newer CPUs and falls back to its
// generic "Prescott" SSE3 kernels, 4–5× slower in sgemm/dgemm than the AVX-512 ones the same
// library carries. OpenBLAS reads OPENBLAS_CORETYPE once, when it is loaded, so the executable
// re-executes itself with the variable set (`upgradeCoreType`); a value the user set is kept.
// A small GEMM against a plain loop (`selfCheck`) guards against kernels that compute wrong
// results on a CPU their library does not know.
import COpenBLAS
import Foundation

/// What the CPU offers and what the BLAS library chose.
public enum BLASKernels {
    /// The environment variable OpenBLAS reads its kernel family from.
    public static let coreTypeVariable = "OPENBLAS_CORETYPE"
    /// Set by mledit when it chose the kernel family itself (its value is the family).
    public static let chosenVariable = "MLEDIT_BLAS_CORETYPE"

    /// OpenBLAS's name for the kernels in use ("Prescott", "Haswell", "SkylakeX", …).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// The library's build description ("OpenBLAS 0.3.21 NO_LAPACKE DYNAMIC_ARCH …").
    public static var configuration: String {
        String(cString: openblas_get_config()).trimmingCharacters(in: .whitespaces)
    }

    /// "OpenBLAS 0.3.21" out of `configuration`.
    public static var libraryVersion: String {
        configuration.split(separator: " ").prefix(2).joined(separator: " ")
    }

    /// Kernel families that use no instruction newer than SSE3: what OpenBLAS falls back to.
    static let genericCores: Set<String> = ["prescott", "core2", "penryn", "dunnington", "nehalem", "atom",
                                            "katmai", "coppermine", "northwood", "banias", "generic", "unknown"]

    /// Whether `name` is one of OpenBLAS's pre-AVX fallback families.
    public static func isGeneric(_ name: String) -> Bool { genericCores.contains(name.lowercased()) }

    /// The instruction-set flags the kernel choice depends on, from /proc/cpuinfo.
    public struct CPU: Sendable, Equatable {
        public var modelName: String
        public var flags: Set<String>
        public init(modelName: String, flags: Set<String>) {
            self.modelName = modelName
            self.flags = flags
        }

        /// The first processor of a /proc/cpuinfo text.
        public init(cpuinfo: String) {
            var model = "unknown"
            var flags: Set<String> = []
            for line in cpuinfo.split(separator: "\n") {
                let parts = line.split(separator: ":", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let key = parts[0].trimmingCharacters(in: .whitespaces)
                let value = parts[1].trimmingCharacters(in: .whitespaces)
                if key == "model name", model == "unknown" { model = value }
                if key == "flags", flags.isEmpty { flags = Set(value.split(separator: " ").map(String.init)) }
            }
            self.init(modelName: model, flags: flags)
        }

        /// This machine's CPU (an empty flag set where /proc/cpuinfo cannot be read).
        public static var current: CPU {
            CPU(cpuinfo: (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
        }

        /// The widest vector extension, for reports ("AVX-512", "AVX2", "SSE3", …).
        public var vectorExtension: String {
            if flags.contains("avx512f") { return "AVX-512" }
            if flags.contains("avx2") { return "AVX2" }
            if flags.contains("avx") { return "AVX" }
            return flags.contains("pni") ? "SSE3" : "SSE2"
        }

        /// The best OpenBLAS 0.3.21 kernel family these flags run, or nil when nothing beats the
        /// generic kernels. Only families measured on such a CPU are named (bench/RESULTS.md).
        public var bestOpenBLASCore: String? {
            let avx512 = ["avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"]
            if avx512.allSatisfy(flags.contains) { return "SkylakeX" }
            if ["avx2", "fma"].allSatisfy(flags.contains) { return "Haswell" }
            return nil
        }
    }

    /// The kernel family to re-execute with, or nil to run as is: nil when the user set
    /// OPENBLAS_CORETYPE, when mledit already chose (no second attempt), when the library's own
    /// choice is not a generic one, or when the CPU offers nothing better.
    public static func upgradeCoreType(environment: [String: String], libraryCore: String, cpu: CPU) -> String? {
        if environment[coreTypeVariable] != nil || environment[chosenVariable] != nil { return nil }
        guard isGeneric(libraryCore), let best = cpu.bestOpenBLASCore else { return nil }
        return best
    }

    /// Largest relative error of a 37×29·29×41 sgemm and dgemm (odd shapes reach the kernels'
    /// edge cases) against a plain Float64 loop.
    public static func selfCheckError() -> Double {
        let m = 37, k = 29, n = 41
        var generator = SeededGenerator(seed: 0x5EED)
        let a = (0..<(m * k)).map { _ in Float(generator.nextUnitDouble() * 2 - 1) }
        let b = (0..<(k * n)).map { _ in Float(generator.nextUnitDouble() * 2 - 1) }
        var reference = [Double](repeating: 0, count: m * n)
        var scale = 0.0
        for i in 0..<m {
            for j in 0..<n {
                var sum = 0.0
                for p in 0..<k { sum += Double(a[i * k + p]) * Double(b[p * n + j]) }
                reference[i * n + j] = sum
                scale = max(scale, abs(sum))
            }
        }
        var single = [Float](repeating: 0, count: m * n)
        Float.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n,
                   beta: 0, c: &single, ldc: n)
        let a64 = a.map(Double.init), b64 = b.map(Double.init)
        var double = [Double](repeating: 0, count: m * n)
        Double.gemm(transposeA: false, transposeB: false, m: m, n: n, k: k, alpha: 1, a: a64, lda: k, b: b64, ldb: n,
                    beta: 0, c: &double, ldc: n)
        var worst = 0.0
        for i in 0..<(m * n) {
            let singleError = abs(Double(single[i]) - reference[i]) / max(scale, 1e-30) / 1e-5
            let doubleError = abs(double[i] - reference[i]) / max(scale, 1e-30) / 1e-12
            worst = max(worst, singleError.isNaN ? .infinity : singleError, doubleError.isNaN ? .infinity : doubleError)
        }
        return worst
    }

    /// Whether sgemm and dgemm agree with the plain loop (Float32 within 1e-5, Float64 within
    /// 1e-12 of the largest entry).
    public static func selfCheck() -> Bool { selfCheckError() <= 1 }

    /// For an executable's first line: re-executes the process with better kernels when
    /// `upgradeCoreType` names some, then runs the self-check. When kernels mledit chose fail it,
    /// re-executes with the library's own; when the library's own fail, exits with an error.
    public static func prepareProcess() {
        let environment = ProcessInfo.processInfo.environment
        if let core = upgradeCoreType(environment: environment, libraryCore: coreName, cpu: .current) {
            setenv(coreTypeVariable, core, 1)
            setenv(chosenVariable, core, 1)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
            unsetenv(coreTypeVariable)   // exec failed: run on with the library's own kernels
        }
        if selfCheck() { return }
        if let chosen = environment[chosenVariable], environment[coreTypeVariable] == chosen {
            FileHandle.standardError.write(Data("warning: the \(chosen) BLAS kernels failed mledit's self-check; using the library's own\n".utf8))
            unsetenv(coreTypeVariable)
            execv("/proc/self/exe", CommandLine.unsafeArgv)
        }
        FileHandle.standardError.write(Data("Error: the BLAS library's \(coreName) kernels compute wrong products on this CPU (set \(coreTypeVariable) to another kernel family)\n".utf8))
        exit(1)
    }

    /// One line for `--version`, `inspect` and `status`, e.g. "OpenBLAS 0.3.21, SkylakeX kernels
    /// (chosen by mledit; the library chose Prescott), CPU Intel(R) Xeon(R) Processor with AVX-512,
    /// 2 worker threads".
    public static func summary(environment: [String: String] = ProcessInfo.processInfo.environment,
                               cpu: CPU = .current) -> String {
        var origin = ""
        if environment[chosenVariable] != nil {
            origin = " (chosen by mledit over the library's generic kernels)"
        } else if let set = environment[coreTypeVariable] {
            origin = " (\(coreTypeVariable)=\(set))"
        } else if isGeneric(coreName), cpu.bestOpenBLASCore != nil {
            origin = " (generic: this CPU runs faster ones)"
        }
        let workers = ComputeThreads.count
        return "\(libraryVersion), \(coreName) kernels\(origin), CPU \(cpu.modelName) with \(cpu.vectorExtension), "
            + "\(workers) worker thread\(workers == 1 ? "" : "s")"
    }
}
