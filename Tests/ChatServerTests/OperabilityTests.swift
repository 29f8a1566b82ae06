import ChatTestSupport
import Foundation
import Testing

/// Health checking and reflection on the chat server itself, with grpcio's
/// Python clients (grpcio-health-checking, grpcio-reflection): clients that
/// are not ours.
@Suite("Health and reflection on the chat server")
struct OperabilityTests {
  /// `python3 -u SCRIPT ARGS`, its output collected.
  private func python(_ script: URL, _ arguments: [String]) throws -> (Process, OutputCollector, ProcessExit) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", "-u", script.path] + arguments
    let stdout = Pipe.closedOnExec()
    process.standardOutput = stdout
    process.standardInput = FileHandle.nullDevice
    let exit = ProcessExit(process)
    try exit.run(process)
    return (process, OutputCollector(name: "python", reading: dup(stdout.fileHandleForReading.fileDescriptor)), exit)
  }

  private static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

  @Test("SERVING for the server and chat.v1.ChatService once listening, NOT_SERVING as shutdown begins")
  func health() async throws {
    let server = try await TestServer()
    let (_, output, exit) = try python(Self.here.appendingPathComponent("interop/chat_health.py"), ["\(server.port)"])
    _ = try await output.waitFor("check <server> SERVING", timeout: 20)
    _ = try await output.waitFor("check chat.v1.ChatService SERVING")
    _ = try await output.waitFor("watch SERVING")
    try await server.stop()
    _ = try await output.waitFor("watch NOT_SERVING")
    _ = try await output.waitFor("watch ended")
    #expect(try await withTimeout(10, "the health client to exit") { await exit.status() } == 0)
  }

  @Test("grpcio with message classes from reflection: ListMembers, its refusals, and PresenceChanged")
  func presenceFromPython() async throws {
    let server = try await TestServer { $0.limits.presenceGrace = .zero }
    let (_, output, exit) = try python(Self.here.appendingPathComponent("interop/chat_presence.py"), ["\(server.port)"])
    _ = try await output.waitFor("joined zoe", timeout: 20)
    _ = try await output.waitFor("member alice online=True account=False last_seen=False")
    _ = try await output.waitFor("member zoe online=True account=True last_seen=False")
    _ = try await output.waitFor("presence zoe online=False seq=0")
    _ = try await output.waitFor("member zoe online=False account=True last_seen=True")
    _ = try await output.waitFor("refused lounge PERMISSION_DENIED")
    _ = try await output.waitFor("refused nowhere NOT_FOUND")
    _ = try await output.waitFor("refused no way INVALID_ARGUMENT")
    _ = try await output.waitFor("done")
    #expect(try await withTimeout(20, "the python client to exit") { await exit.status() } == 0)
    try await server.stop()
  }

  @Test("reflection lists the services and resolves the chat service's file", arguments: ["v1", "v1alpha"])
  func reflection(version: String) async throws {
    let server = try await TestServer()
    let script = Self.here.deletingLastPathComponent().appendingPathComponent(
      "GRPCOperabilityTests/interop/reflection_client.py")
    let (_, output, exit) = try python(script, ["\(server.port)", version])
    let services = try await output.waitFor("services ", timeout: 20)
    #expect(
      services.contains(
        "chat.v1.ChatService,grpc.health.v1.Health,grpc.reflection.v1.ServerReflection,grpc.reflection.v1alpha.ServerReflection"),
      "\(services)")
    _ = try await output.waitFor("symbol chat.v1.ChatService chat.proto")
    _ = try await output.waitFor("service chat.v1.ChatService methods=Connect,CreateGroupChat")
    #expect(try await withTimeout(20, "the reflection client to exit") { await exit.status() } == 0)
    try await server.stop()
  }
}
