// swift-tools-version:6.0
import PackageDescription

// Data flows one way: request → store → worker → volume I/O → preprocessing → ensemble →
// postprocessing → results. Each stage is a module; a lower module never imports a higher one.
let package = Package(
    name: "kidneyseg",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "kidneyseg", targets: ["kidneyseg"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        // C libraries from Debian's -dev packages.
        .target(name: "CNIfTI", linkerSettings: [.linkedLibrary("nifti2"), .linkedLibrary("znz"), .linkedLibrary("z")]),
        .target(name: "CPNG", linkerSettings: [.linkedLibrary("png16")]),
        .target(name: "CDICOM", cxxSettings: [.unsafeFlags(["-I/usr/include/gdcm-3.0"])],
                linkerSettings: [.linkedLibrary("gdcmMSFF"), .linkedLibrary("gdcmDSED"), .linkedLibrary("gdcmCommon"), .linkedLibrary("stdc++")]),
        .target(name: "CDICOMSEG", linkerSettings: ["dcmseg", "dcmfg", "dcmiod", "dcmdata", "oflog", "ofstd", "stdc++"].map { .linkedLibrary($0) }),
        .systemLibrary(name: "COpenBLAS"),
        .target(name: "CCompute", dependencies: ["COpenBLAS"]),
        .systemLibrary(name: "CSQLite"),
        .systemLibrary(name: "CZip"),

        .target(name: "Imaging", dependencies: ["CNIfTI", "CPNG", "CDICOM", "CDICOMSEG", "CZip"]),
        .target(name: "SegmentationMetrics", dependencies: ["Imaging"]),
        .target(name: "NeuralNet", dependencies: ["Imaging", "COpenBLAS", "CCompute"]),
        .target(name: "Training", dependencies: ["NeuralNet", "Imaging", "SegmentationMetrics", "COpenBLAS"]),
        .target(name: "Store", dependencies: ["SegmentationMetrics", "CSQLite"]),
        .target(name: "HTTP", dependencies: [.product(name: "Logging", package: "swift-log")]),
        .target(name: "Service", dependencies: [
            "HTTP", "Store", "NeuralNet", "Imaging", "SegmentationMetrics",
            .product(name: "Logging", package: "swift-log"), .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Crypto", package: "swift-crypto"),
        ], resources: [.copy("Resources/openapi.json"), .copy("Resources/viewer.html")]),
        .executableTarget(
            name: "kidneyseg",
            dependencies: ["Imaging", "SegmentationMetrics", "NeuralNet", "Training", "Service", .product(name: "ArgumentParser", package: "swift-argument-parser")]
        ),
        // Every parser's fuzz harness: libFuzzer's entry point when built by Fuzz/run.sh, a
        // replayer of inputs otherwise.
        .target(name: "CFuzzer"),
        .executableTarget(name: "kidneyseg-fuzz", dependencies: ["CFuzzer", "HTTP", "Imaging", "NeuralNet", "Service"], path: "Sources/KidneySegFuzz"),

        // Test-only helpers: paths to ../shared/data and byte-level builders of NIfTI and PNG files.
        .target(name: "TestSupport", dependencies: ["NeuralNet", .product(name: "Logging", package: "swift-log")], path: "Tests/TestSupport"),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "TestSupport"]),
        .testTarget(name: "SegmentationMetricsTests", dependencies: ["SegmentationMetrics", "TestSupport"]),
        .testTarget(name: "NeuralNetTests", dependencies: ["NeuralNet", "TestSupport"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training", "NeuralNet", "TestSupport"]),
        .testTarget(name: "HTTPTests", dependencies: ["HTTP", "TestSupport"]),
        .testTarget(name: "StoreTests", dependencies: ["Store", "CSQLite", "TestSupport"]),
        .testTarget(name: "ServiceTests", dependencies: ["Service", "HTTP", "Store", "NeuralNet", "TestSupport"]),
        .testTarget(name: "SystemLibraryTests", dependencies: ["COpenBLAS", "CSQLite"]),
        .testTarget(name: "CLITests", dependencies: ["kidneyseg", "kidneyseg-fuzz", "Imaging", "NeuralNet", "TestSupport"]),
    ]
)
