// swift-tools-version:6.1
import PackageDescription

// Layering, bottom up (each target imports only the ones listed before it):
//   SystemSupport (syscalls, locks, threads, monotonic time; Glibc and Synchronization only)
//   → RunJournal (store) → JournalTailer (inotify follow) → RunsAPI (HTTP-agnostic operations)
//   → FastCGIServer (the only libfcgi user, via CFastCGI) → runjournal (CLI executable)
// ServeConfiguration (the settings of `serve` from file, environment and flags) sits beside them, used by runjournal.
let package = Package(
    name: "RunJournal",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "runjournal", targets: ["runjournal"]),
        .library(name: "RunJournal", targets: ["RunJournal"]),
        // For the fuzz targets in Fuzz/, which drive the request decoder on plain bytes.
        .library(name: "FastCGIServer", targets: ["FastCGIServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        // Traits need tools 6.1. YAML pulls in Yams; JSON is a default trait.
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: [.defaults, "YAML"]),
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
        .target(name: "SystemSupport"),
        .target(
            name: "RunJournal",
            dependencies: [
                "SystemSupport",
                .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "JournalTailer",
            dependencies: [
                "SystemSupport", "RunJournal", .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "RunsAPI",
            dependencies: [
                "SystemSupport", "RunJournal", "JournalTailer", .product(name: "Logging", package: "swift-log"),
                // Access control: SHA-256 of token secrets, HMAC-SHA-256 stream tokens.
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ]
        ),
        .target(
            name: "FastCGIServer",
            dependencies: ["CFastCGI", "SystemSupport", "RunsAPI", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "ServeConfiguration",
            dependencies: [
                "RunJournal", .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration"),
            ]
        ),
        .executableTarget(
            name: "runjournal",
            dependencies: [
                "SystemSupport", "RunJournal", "JournalTailer", "RunsAPI", "FastCGIServer", "ServeConfiguration",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .testTarget(name: "SystemSupportTests", dependencies: ["SystemSupport"]),
        .testTarget(name: "RunJournalTests", dependencies: ["RunJournal", "SystemSupport"]),
        .testTarget(name: "JournalTailerTests", dependencies: ["JournalTailer", "RunJournal", "SystemSupport"]),
        .testTarget(
            name: "RunsAPITests",
            dependencies: [
                "RunsAPI", "RunJournal", "JournalTailer", "SystemSupport", .product(name: "Logging", package: "swift-log"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
            ]
        ),
        .testTarget(name: "ServeConfigurationTests", dependencies: ["ServeConfiguration"]),
        .testTarget(name: "FastCGIServerTests", dependencies: ["FastCGIServer", "RunsAPI", "SystemSupport"]),
        // Fixtures are read from the source tree (#filePath), not bundled.
        .testTarget(name: "IntegrationTests", dependencies: ["runjournal", "RunJournal", "SystemSupport"], exclude: ["Fixtures"]),
    ],
    swiftLanguageModes: [.v6]
)
