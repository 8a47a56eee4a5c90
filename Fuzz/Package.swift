// swift-tools-version:6.0
import PackageDescription

// libFuzzer targets for the parsers that read untrusted bytes. Built apart from the main package (its own
// scratch path) because every module here is compiled with -sanitize=fuzzer,address; see README.md and run.sh.
let package = Package(
    name: "RunJournalFuzz",
    dependencies: [
        .package(name: "RunJournal", path: ".."),
    ],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "RunJournal", package: "RunJournal")]),
        .executableTarget(
            name: "FuzzJSONCompactor",
            dependencies: ["FuzzSupport", .product(name: "RunJournal", package: "RunJournal")]
        ),
        .executableTarget(
            name: "FuzzNDJSON",
            dependencies: ["FuzzSupport", .product(name: "RunJournal", package: "RunJournal")]
        ),
        .executableTarget(
            name: "FuzzJournalLines",
            dependencies: ["FuzzSupport", .product(name: "RunJournal", package: "RunJournal")]
        ),
        .executableTarget(
            name: "FuzzJournalSeek",
            dependencies: ["FuzzSupport", .product(name: "RunJournal", package: "RunJournal")]
        ),
        .executableTarget(
            name: "FuzzRequestDecoder",
            dependencies: [
                "FuzzSupport", .product(name: "RunJournal", package: "RunJournal"),
                .product(name: "FastCGIServer", package: "RunJournal"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
