import ChatAPI
import ChatServer
import ChatTestSupport
import Foundation
import Testing

/// A grpc-go client (interop/go_flood, built offline against Debian's
/// golang-google-grpc-dev) holds its Connect stream through a fixed-rate
/// flood with grpc-go's default dial options, BDP pings on: no stream ends
/// that nobody asked to end, no delivery is lost.
///
/// On the nghttp2 transport only: `--transport nio` (grpc-swift-nio-transport)
/// still counts grpc-go's BDP pings as strikes and ends the connection with
/// GOAWAY ENHANCE_YOUR_CALM about 2 s into this flood (issue 11), which is
/// what the nghttp2 transport's ping policy fixes.
@Suite("Interop: a grpc-go client under a fixed-rate flood", .enabled(if: GoClient.toolchain != nil, GoClient.missing))
struct GoInteropTests {
  @Test("a grpc-go member gets every one of 500 direct messages at 100 msgs/s and its stream stays open")
  func goMember() async throws {
    let binary = try await GoClient.built.value
    // The only user of this process's build: no binary is left in the temporary directory.
    defer { try? FileManager.default.removeItem(at: binary) }
    let server = try await TestServer { $0.transport = .nghttp2 }
    let sender = try await server.user("gosender")
    let total = 500
    let member = Process()
    member.executableURL = binary
    member.arguments = ["127.0.0.1:\(server.port)", "gomember", "\(total)", "40"]
    let stdout = Pipe.closedOnExec()
    member.standardOutput = stdout
    member.standardError = stdout
    let exit = ProcessExit(member)
    try exit.run(member)
    let output = OutputCollector(name: "go client", reading: dup(stdout.fileHandleForReading.fileDescriptor))
    defer { if member.isRunning { member.terminate() } }
    try await output.waitFor("welcomed", timeout: 20)

    // The flood: 100 direct messages a second (the sleep paces the rate; it waits for no event).
    let start = ContinuousClock.now
    for i in 0..<total {
      try await Task.sleep(until: start + .milliseconds(10 * i))
      do {
        try await sender.send("m-\(i)", to: "gomember", .user)
      } catch {
        // The member's stream ended: its client says why.
        let said = (try? await output.waitFor("result ", timeout: 5)) ?? output.text
        Issue.record("message \(i) was refused: \(error); the go client said: \(said)")
        throw error
      }
    }
    let result = try await output.waitFor("result ", timeout: 40)
    #expect(result.contains("result received=\(total) ended=no"), "\(result)")
    #expect(try await withTimeout(10, "the go client to exit") { await exit.status() } == 0)
    #expect(!server.logs.entries.contains { $0.message.description == "connection closed: too many pings" })
    sender.close()
    try await server.stop()
  }
}

/// The Go toolchain and grpc-go sources, and the client built from them once per test run.
enum GoClient {
  static let grpcSources = "/usr/share/gocode/src/google.golang.org/grpc"

  static let toolchain: URL? = {
    guard FileManager.default.fileExists(atPath: grpcSources) else { return nil }
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    let directories = path.split(separator: ":").map(String.init) + ["/usr/lib/go/bin"]
    for directory in directories {
      let candidate = URL(fileURLWithPath: directory).appendingPathComponent("go")
      if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
    }
    return nil
  }()

  static let missing: Comment =
    "go or grpc-go is not installed: apt-get install golang-go golang-google-grpc-dev (.ci/run installs them)"

  struct BuildFailed: Error, CustomStringConvertible {
    let output: String
    var description: String { "go build of interop/go_flood failed:\n\(output)" }
  }

  /// `go build` in GOPATH mode against /usr/share/gocode: no network, no
  /// go.mod. The binary and Go's build cache live under the temporary
  /// directory, never in the repository.
  static let built = Task<URL, any Error> {
    guard let go = toolchain else { throw BuildFailed(output: "\(missing)") }
    let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("interop/go_flood")
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("chat-go-interop")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    let binary = scratch.appendingPathComponent("go_flood-\(ProcessInfo.processInfo.processIdentifier)")
    let build = Process()
    build.executableURL = go
    build.arguments = ["build", "-o", binary.path, "."]
    build.currentDirectoryURL = source
    var environment = ProcessInfo.processInfo.environment
    environment["GO111MODULE"] = "off"
    environment["GOPATH"] = "/usr/share/gocode"
    environment["GOCACHE"] = scratch.appendingPathComponent("cache").path
    environment["GOFLAGS"] = ""
    environment["GOTOOLCHAIN"] = "local"
    environment["GOPROXY"] = "off"
    build.environment = environment
    let output = Pipe.closedOnExec()
    build.standardOutput = output
    build.standardError = output
    let exit = ProcessExit(build)
    try exit.run(build)
    let collected = OutputCollector(name: "go build", reading: dup(output.fileHandleForReading.fileDescriptor))
    let status = try await withTimeout(600, "go build of the interop client") { await exit.status() }
    guard status == 0 else { throw BuildFailed(output: collected.text) }
    return binary
  }
}
