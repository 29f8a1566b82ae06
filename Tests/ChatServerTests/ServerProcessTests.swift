import ChatTestSupport
import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import ChatServer

/// The real `chat-server` executable: how it starts, fails and stops.
@Suite("chat-server process")
struct ServerProcessTests {
  /// Runs chat-server with `arguments` and no console until it exits; its
  /// exit status and standard error.
  private func run(_ arguments: [String], seconds: Double = 20) async throws -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = try ServerProcess.executable
    process.arguments = ServerProcess.withStore(arguments) + ["--no-console"]
    let stderr = Pipe.closedOnExec()
    process.standardError = stderr
    process.standardOutput = FileHandle.nullDevice
    process.standardInput = FileHandle.nullDevice
    let exit = ProcessExit(process)
    try exit.run(process)
    let output = OutputCollector(name: "stderr", reading: dup(stderr.fileHandleForReading.fileDescriptor))
    let status = try await withTimeout(seconds, "chat-server to exit") { await exit.status() }
    try await output.waitForEnd()
    return (try #require(status), output.text)
  }

  @Test("a bad --presence-grace or --lobby is refused before starting, naming the flag and the value", arguments: [
    (["--presence-grace", "soon"], "--presence-grace soon is not a duration"),
    (["--presence-grace=-1s"], "--presence-grace -1s is not a duration"),
    (["--lobby", "the lobby"], "--lobby: invalid group name 'the lobby'"),
  ])
  func badPresenceFlags(arguments: [String], message: String) async throws {
    let (status, stderr) = try await run(arguments)
    #expect(status == 64)
    #expect(stderr.contains(message), "\(stderr)")
  }

  @Test("a port already in use is said plainly, and the server exits 1")
  func portInUse() async throws {
    let holder = try await ServerBootstrap(group: .singletonMultiThreadedEventLoopGroup)
      .bind(host: "127.0.0.1", port: 0).get()
    let port = try #require(holder.localAddress?.port)
    let (status, stderr) = try await run(["--port", "\(port)"])
    try await holder.close()
    #expect(status == 1)
    #expect(stderr.contains("cannot listen on 127.0.0.1:\(port): address already in use"), "\(stderr)")
    #expect(!stderr.contains("serverIsStopped"))
    #expect(stderr.split(separator: "\n").last?.contains(" stopped ") == true, "\(stderr)")
  }

  @Test("a host this machine does not have is said plainly, and the server exits 1")
  func hostNotHere() async throws {
    let (status, stderr) = try await run(["--host", "192.0.2.1", "--port", "0"])
    #expect(status == 1)
    #expect(stderr.contains("cannot listen on 192.0.2.1:0: "), "\(stderr)")
  }

  @Test("the last line of a clean exit says stopped, exit 0")
  func stoppedLine() async throws {
    let server = try await ServerProcess.start(["--log-level", "info"])
    server.signal(SIGTERM)
    #expect(try await server.exitStatus() == 0)
    try await server.stderr.waitForEnd()
    let last = try #require(server.stderr.text.split(separator: "\n").last)
    #expect(last.contains(" notice stopped ") && last.contains("exit=0"), "\(last)")
  }

  @Test("--tasks-on-event-loops is installed only from the main thread")
  func tasksOnEventLoopsNeedsTheMainThread() async throws {
    // Tests run off the main thread: the install must refuse, and install nothing.
    #expect(throws: TasksOnEventLoops.Failure.notOnMainThread) { try TasksOnEventLoops.install() }
  }
}
