// swift-tools-version:6.0
import PackageDescription

// Layering, bottom up (each target imports only the ones listed before it):
//   RunJournal (store) → JournalTailer (inotify follow) → RunsAPI (HTTP-agnostic operations)
//   → FastCGIServer (the only libfcgi user, via CFastCGI) → runjournal (CLI executable)
let package = Package(
    name: "RunJournal",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "runjournal", targets: ["runjournal"]),
        .library(name: "RunJournal", targets: ["RunJournal"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // Metrics: the libraries record through swift-metrics' API only; `serve` bootstraps the Prometheus backend.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CFastCGI",
            path: "Sources/CFastCGI",
            providers: [.apt(["libfcgi-dev"])]
        ),
        .target(
            name: "RunJournal",
            dependencies: [
                .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "JournalTailer",
            dependencies: [
                "RunJournal", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "RunsAPI",
            dependencies: [
                "RunJournal", "JournalTailer", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "FastCGIServer",
            dependencies: ["CFastCGI", "RunsAPI", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "runjournal",
            dependencies: [
                "RunJournal", "JournalTailer", "RunsAPI", "FastCGIServer",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(name: "RunJournalTests", dependencies: ["RunJournal"]),
        .testTarget(name: "JournalTailerTests", dependencies: ["JournalTailer", "RunJournal"]),
        .testTarget(
            name: "RunsAPITests",
            dependencies: [
                "RunsAPI", "RunJournal", "JournalTailer", .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(name: "FastCGIServerTests", dependencies: ["FastCGIServer", "RunsAPI"]),
        // Fixtures are read from the source tree (#filePath), not bundled.
        .testTarget(name: "IntegrationTests", dependencies: ["runjournal", "RunJournal"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
