// mledit's own parallelism and the BLAS kernel choice: products cut into pieces give the same bits
// with 1, 2 and 3 worker threads and agree with a plain loop; the start-up decision to re-execute
// with better kernels keeps what the user set; the self-check passes on the kernels in use.
import Foundation
import Testing
@testable import Tensors

@Suite("Compute threads and BLAS kernels", .serialized)
struct ComputeThreadsTests {
    static func random(_ rows: Int, _ cols: Int, seed: UInt64) -> Matrix<Float> {
        var generator = SeededGenerator(seed: seed)
        return Matrix(rows: rows, cols: cols, values: (0..<(rows * cols)).map { _ in Float(generator.nextUnitDouble() * 2 - 1) })
    }

    /// A product with each thread count; restores the default afterwards.
    static func product(_ a: Matrix<Float>, _ b: Matrix<Float>, transposeOther: Bool, threads: Int) -> Matrix<Float> {
        ComputeThreads.configure(count: threads)
        defer { ComputeThreads.configure(count: nil) }
        return a.multiplied(by: b, transposeOther: transposeOther)
    }

    @Test("every cut of a product gives the same bits for 1, 2 and 3 threads, close to a plain loop",
          arguments: [(300, 200, 700), (40, 700, 2000), (40, 300, 9000)])
    func cutsAreThreadIndependent(shape: (m: Int, n: Int, k: Int)) {
        let a = Self.random(shape.m, shape.k, seed: 1), b = Self.random(shape.n, shape.k, seed: 2)
        #expect(GEMMTiling.cut(m: shape.m, n: shape.n, k: shape.k) != .none)
        let one = Self.product(a, b, transposeOther: true, threads: 1)
        for threads in [2, 3] {
            #expect(Self.product(a, b, transposeOther: true, threads: threads).values == one.values)
        }
        var worst = 0.0
        for i in stride(from: 0, to: shape.m, by: 7) {
            for j in stride(from: 0, to: shape.n, by: 5) {
                var sum = 0.0
                for p in 0..<shape.k { sum += Double(a[i, p]) * Double(b[j, p]) }
                worst = max(worst, abs(sum - Double(one[i, j])))
            }
        }
        #expect(worst < 1e-3)
    }

    @Test("the cut follows the shape: rows, columns, the inner dimension, or none")
    func cutChoice() {
        #expect(GEMMTiling.cut(m: 8, n: 8, k: 8) == .none)
        #expect(GEMMTiling.cut(m: 2000, n: 1536, k: 576) == .rows(4))
        #expect(GEMMTiling.cut(m: 200, n: 49152, k: 576) == .columns(4))
        #expect(GEMMTiling.cut(m: 120, n: 576, k: 49152) == .inner(4))
        #expect(GEMMTiling.ranges(100, 3) == [0..<48, 48..<96, 96..<100])
    }

    @Test("map returns results in index order with any thread count")
    func mapOrder() {
        for threads in [1, 2, 3] {
            ComputeThreads.configure(count: threads)
            #expect(ComputeThreads.map(50) { $0 * $0 } == (0..<50).map { $0 * $0 })
        }
        ComputeThreads.configure(count: nil)
        #expect(ComputeThreads.parse("2") == 2)
        #expect(ComputeThreads.parse("0") == nil && ComputeThreads.parse("-1") == nil && ComputeThreads.parse("two") == nil)
    }

    @Test("re-execute with better kernels only when the library fell back and nobody chose")
    func kernelUpgrade() {
        let avx512 = BLASKernels.CPU(modelName: "x", flags: ["avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512cd"])
        let avx2 = BLASKernels.CPU(modelName: "x", flags: ["avx2", "fma"])
        let old = BLASKernels.CPU(modelName: "x", flags: ["sse2", "pni"])
        #expect(BLASKernels.upgradeCoreType(environment: [:], libraryCore: "Prescott", cpu: avx512) == "SkylakeX")
        #expect(BLASKernels.upgradeCoreType(environment: [:], libraryCore: "Prescott", cpu: avx2) == "Haswell")
        #expect(BLASKernels.upgradeCoreType(environment: [:], libraryCore: "Prescott", cpu: old) == nil)
        #expect(BLASKernels.upgradeCoreType(environment: [:], libraryCore: "Haswell", cpu: avx512) == nil)
        #expect(BLASKernels.upgradeCoreType(environment: ["OPENBLAS_CORETYPE": "Prescott"], libraryCore: "Prescott", cpu: avx512) == nil)
        #expect(BLASKernels.upgradeCoreType(environment: ["MLEDIT_BLAS_CORETYPE": "SkylakeX"], libraryCore: "Prescott", cpu: avx512) == nil)
        let parsed = BLASKernels.CPU(cpuinfo: "processor\t: 0\nmodel name\t: Example CPU\nflags\t\t: fpu avx2 fma\n\nprocessor\t: 1\nflags\t: none\n")
        #expect(parsed.modelName == "Example CPU" && parsed.flags == ["fpu", "avx2", "fma"])
        #expect(parsed.vectorExtension == "AVX2")
    }

    @Test("the BLAS kernels in use pass the self-check, and the summary names them")
    func selfCheck() {
        #expect(BLASKernels.selfCheckError() <= 1)
        let summary = BLASKernels.summary()
        #expect(summary.contains(BLASKernels.coreName) && summary.hasPrefix("OpenBLAS"))
    }
}
