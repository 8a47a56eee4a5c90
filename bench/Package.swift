// swift-tools-version:6.0
import Foundation
import PackageDescription

// Benchmarks for the journal store, built in release mode against the root package by path:
//   bench/run-store-bench.sh
// A separate package so the product's own Package.swift carries no benchmark targets.

// A path dependency's identity is its directory's name, which depends on where the repository was
// cloned; derive it instead of hard-coding it.
let rootDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let rootIdentity = rootDirectory.lastPathComponent.lowercased()

let package = Package(
    name: "RunJournalBench",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: rootDirectory.path)
    ],
    targets: [
        .executableTarget(
            name: "StoreBench",
            dependencies: [.product(name: "RunJournal", package: rootIdentity)]
        )
    ],
    swiftLanguageModes: [.v6]
)
