import ChatServer
import ChatTestSupport
import Foundation
import Testing

/// The nghttp2 transport against an independent HTTP/2 peer (Python's `h2`,
/// interop/h2_peer.py): each abuse gets the answer the HTTP/2 and gRPC specs
/// give, is logged, and the server goes on serving others.
@Suite("HTTP/2 protocol with an independent peer (nghttp2 transport)", .serialized)
struct HTTP2PeerTests {
  private static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("interop/h2_peer.py")

  /// One scenario and what its result line must contain.
  struct Scenario: Sendable, CustomTestStringConvertible {
    let testDescription: String
    let name: String
    let expected: [String]
    /// A log line the server must have written for it.
    let log: String?
  }

  @Test(
    "each protocol abuse gets the spec's answer and a log line, and the server serves on",
    arguments: [
      Scenario(
        testDescription: "a bad connection preface closes the connection", name: "bad_preface",
        expected: ["closed=True", "served=True"], log: "connection closed: HTTP/2 protocol error"),
      Scenario(
        testDescription: "SETTINGS on a stream is GOAWAY PROTOCOL_ERROR", name: "garbage_frame",
        expected: ["goaway=1", "closed=True", "served=True"], log: "protocol error: invalid frame"),
      Scenario(
        testDescription: "a connection window overflow is GOAWAY FLOW_CONTROL_ERROR", name: "window_overflow",
        expected: ["goaway=3", "closed=True", "served=True"], log: "protocol error: invalid frame"),
      Scenario(
        testDescription: "an unknown frame type is ignored", name: "unknown_frame", expected: ["served=True"], log: nil),
      Scenario(
        testDescription: "a message announcing more than the limit is RESOURCE_EXHAUSTED with a status", name: "oversized",
        expected: ["answer=status=8 ", "served=True"], log: "stream refused: request message too large"),
      Scenario(
        testDescription: "a compressed message is UNIMPLEMENTED with grpc-accept-encoding identity", name: "compressed",
        expected: ["answer=status=12 accept_encoding=identity", "served=True"], log: "stream refused: compressed message"),
      Scenario(
        testDescription: "a request ending inside a message is INTERNAL", name: "truncated",
        expected: ["answer=status=13 ", "served=True"], log: "stream refused: truncated gRPC frame"),
      Scenario(
        testDescription: "a content-type that is not gRPC is HTTP 415", name: "content_type",
        expected: ["answer=http=415", "served=True"], log: "stream refused: content-type is not application/grpc"),
      Scenario(
        testDescription: "a GET is HTTP 405", name: "get", expected: ["answer=http=405", "served=True"],
        log: "stream refused: method is not POST"),
      Scenario(
        testDescription: "a -bin header that is not base64 is INTERNAL; one that is goes through", name: "bin_metadata",
        expected: ["bad=status=13", "good=status=0"], log: "stream refused"),
      Scenario(
        testDescription: "a stream past the concurrent-stream cap is REFUSED_STREAM", name: "too_many_streams",
        expected: ["third=reset=7", "served=True"], log: nil),
      Scenario(
        testDescription: "rapid reset is GOAWAY ENHANCE_YOUR_CALM and a close", name: "rapid_reset",
        expected: ["goaway=11", "closed=True", "served=True"], log: "connection closed: too many stream resets"),
      Scenario(
        testDescription: "request headers past the limit are HTTP 431 with RESOURCE_EXHAUSTED; the connection serves on",
        name: "huge_headers",
        expected: ["answer=http=431 ", "grpc_status=8 ", "bytes_are_larger_than_the_limit_of_16384_bytes", "goaway=None", "served=True"],
        log: "stream refused: request headers too large"),
      Scenario(
        testDescription: "a request without te: trailers is INTERNAL; te other than trailers is RST_STREAM PROTOCOL_ERROR",
        name: "te", expected: ["missing=status=13 message=The te header is missing", "wrong=reset=1", "served=True"],
        log: "stream refused: te is not trailers"),
      Scenario(
        testDescription: "a stream whose handler stops reading gets no more window than it consumed; the connection serves on",
        name: "flow_control", expected: ["stalled=True", "served=True"], log: nil),
    ])
  func abuse(scenario: Scenario) async throws {
    let server = try await TestServer {
      $0.transport = .nghttp2
      $0.maxStreamsPerConnection = 2
    }
    let peer = try PythonPeer(script: Self.script, arguments: ["\(server.port)", scenario.name])
    let result = try await peer.output.waitFor("result ", timeout: 20)
    for expected in scenario.expected {
      #expect(result.contains(expected), "\(result)")
    }
    if let log = scenario.log {
      #expect(server.logs.entries.contains { $0.message.description == log }, "no log line '\(log)'")
    }
    #expect(try await withTimeout(10, "the peer to exit") { await peer.exit.status() } == 0)
    try await server.stop()
  }

  @Test("a client's RST_STREAM cancels its Connect: the session ends and the connection serves on")
  func resetCancelsTheCall() async throws {
    let server = try await TestServer { $0.transport = .nghttp2 }
    let peer = try PythonPeer(script: Self.script, arguments: ["\(server.port)", "connect_reset"])
    _ = try await peer.output.waitFor("reset sent", timeout: 20)
    try await eventually("h2bob's session to end") { !server.registry.userNames().contains("h2bob") }
    #expect(server.logs.entries.contains { $0.metadata["user"] == "h2bob" && $0.metadata["reason"] == "disconnected" })
    peer.input.write("go\n".data(using: .utf8)!)
    let result = try await peer.output.waitFor("result ", timeout: 10)
    #expect(result.contains("welcomed=True"), "\(result)")
    #expect(result.contains("served=True"), "\(result)")
    #expect(try await withTimeout(10, "the peer to exit") { await peer.exit.status() } == 0)
    try await server.stop()
  }
}

extension HTTP2PeerTests {
  @Test("a call still running when a graceful shutdown's final GOAWAY goes out gets its status, then the connection closes")
  func statusAfterFinalGoAway() async throws {
    let server = try await TestServer {
      $0.transport = .nghttp2
      // scrypt costly enough that the SignUp outlasts the shutdown's ping,
      // within the time a graceful shutdown is given.
      $0.passwordHashing = .init(log2N: 14, r: 8, p: 1)
      $0.shutdownTimeout = .seconds(20)
    }
    let peer = try PythonPeer(script: Self.script, arguments: ["\(server.port)", "late_status"])
    _ = try await peer.output.waitFor("call started", timeout: 20)
    try await server.stop()
    let result = try await peer.output.waitFor("result ", timeout: 20)
    #expect(result.contains("answer=status="), "\(result)")
    #expect(result.contains("goaways=2 "), "\(result)")
    #expect(result.contains("closed=True"), "\(result)")
    #expect(try await withTimeout(10, "the peer to exit") { await peer.exit.status() } == 0)
  }
}

/// `python3 -u SCRIPT ARGS` with its stdin and stdout.
struct PythonPeer {
  let process: Process
  let output: OutputCollector
  let exit: ProcessExit
  let input: FileHandle

  init(script: URL, arguments: [String]) throws {
    process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-u", script.path] + arguments
    let stdout = Pipe.closedOnExec()
    let stdin = Pipe.closedOnExec()
    process.standardOutput = stdout
    process.standardInput = stdin
    exit = ProcessExit(process)
    try exit.run(process)
    input = stdin.fileHandleForWriting
    output = OutputCollector(name: "h2 peer", reading: dup(stdout.fileHandleForReading.fileDescriptor))
  }
}

/// Clients that are not ours hold their streams through a flood with their
/// default settings (C-core's BDP pings on): the ping-strike policy must
/// never end a stream nobody asked to end.
@Suite("Interop under a fixed-rate flood")
struct FloodInteropTests {
  private static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .appendingPathComponent("interop/grpcio_flood.py")

  @Test("a grpcio member gets every message of 100 msgs/s for 5 s and its stream stays open", arguments: ServerTransportKind.allCases)
  func grpcioMember(transport: ServerTransportKind) async throws {
    let server = try await TestServer { $0.transport = transport }
    let peer = try PythonPeer(script: Self.script, arguments: ["\(server.port)", "100", "5"])
    let result = try await peer.output.waitFor("result ", timeout: 40)
    #expect(result.contains("received=500 sent=500 ended=no"), "\(result)")
    #expect(try await withTimeout(10, "the client to exit") { await peer.exit.status() } == 0)
    try await server.stop()
  }
}
