// swift-tools-version:6.1
import PackageDescription

let swiftSettings: [SwiftSetting] = [
  .swiftLanguageMode(.v6),
  .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
  name: "chat",
  platforms: [.macOS(.v15)],
  products: [
    .executable(name: "chat-server", targets: ["chat-server"]),
    .executable(name: "chat-client", targets: ["chat-client"]),
    .executable(name: "chat-bench", targets: ["chat-bench"]),
  ],
  dependencies: [
    .package(url: "https://github.com/grpc/grpc-swift-2.git", from: "2.4.3"),
    .package(url: "https://github.com/grpc/grpc-swift-nio-transport.git", from: "2.9.2"),
    .package(url: "https://github.com/grpc/grpc-swift-protobuf.git", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-protobuf.git", from: "1.39.0"),
    .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
    .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    // Already in the graph through grpc-swift-nio-transport: NIOCore for the server's dead-peer
    // handler; the rest test-only (raw TCP and HTTP/2 for wire-abuse tests, certificates for TLS).
    .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-http2.git", from: "1.46.0"),
    // TLS for the nghttp2 transport (already in the graph through grpc-swift-nio-transport).
    .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
    .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"6.0.0"),
    .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
    .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    // The SQLite store (Debian's libsqlite3-dev; docs/store-choice.md says why this one).
    .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    // JWT bearer tokens (ChatAuth's JWTVerifier).
    .package(url: "https://github.com/vapor/jwt-kit.git", from: "5.8.0"),
  ],
  targets: [
    // GNU readline, for terminal line editing (Debian: libreadline-dev).
    .systemLibrary(
      name: "CReadline",
      path: "Sources/CReadline",
      providers: [.apt(["libreadline-dev"])]
    ),
    // libnghttp2, the HTTP/2 engine of the server's own transport (Debian: libnghttp2-dev).
    .systemLibrary(
      name: "CNGHTTP2",
      path: "Sources/CNGHTTP2",
      providers: [.apt(["libnghttp2-dev"])]
    ),
    // zlib's CRC-32 guards the message log's records (Debian: zlib1g-dev).
    .systemLibrary(
      name: "CZlib",
      path: "Sources/CZlib",
      providers: [.apt(["zlib1g-dev"])]
    ),
    // A GRPCCore server transport on libnghttp2, driven by SwiftNIO: wire
    // only, no chat types.
    .target(
      name: "NGHTTP2Transport",
      dependencies: [
        "CNGHTTP2",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
      ],
      swiftSettings: swiftSettings
    ),
    // Generated from chat.proto by scripts/generate.sh; committed.
    .target(
      name: "ChatAPI",
      dependencies: [
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // gRPC health checking (grpc.health.v1) and server reflection
    // (grpc.reflection.v1 and v1alpha) for the server to register; code
    // generated from scripts/protos by scripts/generate.sh, committed.
    .target(
      name: "GRPCOperability",
      dependencies: [
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      swiftSettings: swiftSettings
    ),
    // The registry and its rules, with no wire type: any front end drives it.
    .target(
      name: "ChatCore",
      dependencies: [
        "ChatStore",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: swiftSettings
    ),
    // Where accounts, groups, memberships, positions and the log are kept:
    // in memory, or in SQLite with group commit. No gRPC, no ChatCore types.
    .target(
      name: "ChatStore",
      dependencies: [
        "CZlib",
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "Logging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    // Passwords (scrypt), access tokens, sign-in throttling and JWT
    // verification. No gRPC, no wire types, no store.
    .target(
      name: "ChatAuth",
      dependencies: [
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "_CryptoExtras", package: "swift-crypto"),
        .product(name: "JWTKit", package: "jwt-kit"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "ChatAuthTests",
      dependencies: [
        "ChatAuth",
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "_CryptoExtras", package: "swift-crypto"),
        .product(name: "JWTKit", package: "jwt-kit"),
      ],
      swiftSettings: swiftSettings
    ),
    // Opens a store, appends and prints what was acknowledged, then waits to
    // be killed: ChatStoreTests' kill -9 durability test runs it.
    .executableTarget(
      name: "chat-store-crash-helper",
      dependencies: ["ChatStore", .product(name: "Logging", package: "swift-log")],
      path: "Tests/ChatStoreCrashHelper",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "ChatStoreTests",
      dependencies: [
        "ChatStore",
        // Not imported: the kill -9 test runs the built executable.
        "chat-store-crash-helper",
        // Pipe.closedOnExec() for the kill -9 test's child.
        "ChatTestSupport",
        .product(name: "GRDB", package: "GRDB.swift"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "InMemoryLogging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    // The gRPC front end: the chat service, its interceptors, the mapping of
    // core errors to statuses, event encoding.
    .target(
      name: "ChatGRPC",
      dependencies: [
        "ChatCore",
        "ChatAuth",
        "ChatAPI",
        "NGHTTP2Transport",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOHTTP2", package: "swift-nio-http2"),
        .product(name: "NIOHPACK", package: "swift-nio-http2"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: swiftSettings
    ),
    // The operator console on the server's stdin, and its readline shim.
    .target(
      name: "ChatConsole",
      dependencies: [
        "ChatCore",
        "CReadline",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: swiftSettings
    ),
    // The application: the services composed, as chat-server and the tests run it.
    .target(
      name: "ChatServer",
      dependencies: [
        "ChatCore",
        "ChatAuth",
        "ChatStore",
        "ChatGRPC",
        "NGHTTP2Transport",
        "ChatConsole",
        "GRPCOperability",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "chat-server",
      dependencies: [
        "ChatServer",
        "ChatAuth",
        "ChatCore",
        "ChatStore",
        "ChatConsole",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      swiftSettings: swiftSettings
    ),
    // The benchmark (issue 5) as a library, so tests run small scenarios end
    // to end, and a thin executable over it.
    .target(
      name: "ChatBench",
      dependencies: [
        "ChatAPI",
        // `store-cost` drives the registry in process, on each store.
        "ChatCore",
        "ChatStore",
        "ChatGRPC",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Histogram", package: "hdrhistogram-swift"),
        .product(name: "JWTKit", package: "jwt-kit"),
      ],
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "chat-bench",
      dependencies: [
        "ChatBench",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      swiftSettings: swiftSettings
    ),
    // The example client (client/): its logic as a library, so tests reach it,
    // and a thin executable over it.
    .target(
      name: "ChatClientCore",
      dependencies: [
        "ChatAPI",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
      ],
      path: "client/Core",
      swiftSettings: swiftSettings
    ),
    .executableTarget(
      name: "chat-client",
      dependencies: [
        "ChatClientCore",
        "ChatAPI",
        "CReadline",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      path: "client/CLI",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "ChatClientTests",
      dependencies: [
        "ChatClientCore",
        "ChatTestSupport",
        "ChatServer",
        "ChatCore",
        "ChatAPI",
        // Not imported: the end-to-end tests run the built executable.
        "chat-client",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        // A stand-in server for the account side (FakeAccountServer).
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "InMemoryLogging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    // What the server's, the client's and the benchmark's tests share: a real
    // in-process server on a free port, and timeouts.
    .target(
      name: "ChatTestSupport",
      dependencies: [
        "ChatServer",
        "ChatCore",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "InMemoryLogging", package: "swift-log"),
      ],
      path: "Tests/ChatTestSupport",
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "ChatServerTests",
      dependencies: [
        "ChatServer",
        "ChatCore",
        "ChatGRPC",
        "ChatConsole",
        "NGHTTP2Transport",
        .product(name: "GRPCInProcessTransport", package: "grpc-swift-2"),
        "ChatTestSupport",
        // Built for the console tests, which run the real executable.
        "chat-server",
        "ChatAPI",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "InMemoryLogging", package: "swift-log"),
        .product(name: "PropertyBased", package: "swift-property-based"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOHTTP2", package: "swift-nio-http2"),
        .product(name: "NIOHPACK", package: "swift-nio-http2"),
        .product(name: "X509", package: "swift-certificates"),
        .product(name: "Crypto", package: "swift-crypto"),
        .product(name: "SwiftASN1", package: "swift-asn1"),
      ],
      exclude: ["interop"],
      swiftSettings: swiftSettings
    ),
    .testTarget(
      name: "ChatBenchTests",
      dependencies: [
        "ChatBench",
        "ChatTestSupport",
        "ChatServer",
        "ChatCore",
        "ChatAPI",
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "InMemoryLogging", package: "swift-log"),
      ],
      swiftSettings: swiftSettings
    ),
    // Runs a real server with health and reflection; interop/ holds the
    // Python grpcio clients the tests run against it.
    .testTarget(
      name: "GRPCOperabilityTests",
      dependencies: [
        "GRPCOperability",
        // Pipe.closedOnExec() for the interop scripts' pipes.
        "ChatTestSupport",
        .product(name: "GRPCCore", package: "grpc-swift-2"),
        .product(name: "GRPCNIOTransportHTTP2", package: "grpc-swift-nio-transport"),
        .product(name: "GRPCProtobuf", package: "grpc-swift-protobuf"),
        .product(name: "SwiftProtobuf", package: "swift-protobuf"),
      ],
      exclude: ["interop"],
      swiftSettings: swiftSettings
    ),
  ]
)
