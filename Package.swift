// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "mledit",
    products: [
        .executable(name: "mledit", targets: ["mledit"]),
    ],
    targets: [
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        .target(name: "Tensors", dependencies: ["COpenBLAS"]),
        .target(name: "Checkpoints", dependencies: ["Tensors"]),
        .target(name: "Models", dependencies: ["Checkpoints", "Tensors"]),
        .target(name: "Solvers", dependencies: ["Models", "Tensors"]),
        .target(name: "Ledger", dependencies: ["Tensors", "CSQLite", "CZstd", "CCrypto"],
                resources: [.embedInCode("Schema")]),
        .target(name: "MLEdit", dependencies: ["Ledger", "Solvers", "Models", "Checkpoints", "Tensors"]),
        .target(name: "MLEditCLI", dependencies: ["MLEdit", "Ledger", "Solvers", "Models", "Checkpoints", "Tensors"]),
        .executableTarget(name: "mledit", dependencies: ["MLEditCLI"]),
        .executableTarget(name: "MLEditBench", dependencies: ["MLEdit", "Ledger", "Solvers", "Models", "Checkpoints", "Tensors"],
                          path: "bench/MLEditBench"),

        .testTarget(name: "TensorsTests", dependencies: ["Tensors"]),
        .testTarget(name: "CheckpointsTests", dependencies: ["Checkpoints", "Tensors"]),
        .testTarget(name: "ModelsTests", dependencies: ["Models", "Checkpoints", "Tensors"]),
        .testTarget(name: "SolversTests", dependencies: ["Solvers", "Models", "Tensors"]),
        .testTarget(name: "LedgerTests", dependencies: ["Ledger", "Tensors"]),
        .testTarget(name: "MLEditTests", dependencies: ["MLEdit", "Ledger", "Solvers", "Models", "Tensors"]),
        .testTarget(name: "MLEditCLITests", dependencies: ["MLEditCLI", "MLEdit", "mledit"]),
    ]
)
