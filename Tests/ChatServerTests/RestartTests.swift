import ChatAPI
import ChatTestSupport
import Foundation
import GRPCCore
import Testing

/// The real `chat-server` on its SQLite store, killed with SIGKILL and
/// started again on the same data directory.
@Suite("Restart on the SQLite store")
struct RestartTests {
  @Test("after kill -9: accounts, tokens, groups, history and a resume survive; guests and their groups do not")
  func killAndRestart() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-restart-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let arguments = ["--store", "sqlite", "--data-dir", directory.path, "--no-console"]

    let first = try await ServerProcess.start(arguments)
    let token = try await signUpAccount("olga", port: first.port)
    let (olga, welcome) = try await TestUser.connectAccount("olga", token: token, port: first.port)
    let epoch = welcome.position.epoch
    try await olga.create("club")
    let guest = try await first.user("pete")
    try await guest.create("guests-only")
    try await guest.join("club")
    try await guest.send("before the crash", to: "club", .group)
    let seen = try await olga.next(until: { $0.message.text == "before the crash" })
    let position = Chat_V1_StreamPosition.with {
      $0.epoch = epoch
      $0.seq = seen.last!.seq
    }
    try await olga.send("acknowledged", to: "club", .group)
    try await guest.send("to olga, offline soon", to: "olga", .user)
    olga.close()
    guest.close()
    first.signal(SIGKILL)
    _ = try await first.exitStatus()

    let second = try await ServerProcess.start(arguments)
    // The old token still works, and a resume recovers what came after the position.
    let (back, again) = try await TestUser.connectAccount("olga", token: token, port: second.port, resume: position)
    #expect(again.position.epoch == epoch)
    #expect(again.recovered)
    let replayed = try await back.next(until: { $0.message.text == "to olga, offline soon" })
    #expect(replayed.map(\.message.text).filter { !$0.isEmpty } == ["acknowledged", "to olga, offline soon"])
    // Guests do not survive a restart.
    #expect(await rpcError { try await back.send("hi", to: "pete", .user) }?.code == .notFound)
    let history = try await back.history("club", .group, limit: 10)
    #expect(history.events.compactMap { $0.message.text.isEmpty ? nil : $0.message.text } == ["acknowledged", "before the crash"])
    let channels = try await back.list()
    #expect(channels.contains { $0.name == "club" && $0.type == .group })
    #expect(!channels.contains { $0.name == "guests-only" })
    // The password too.
    _ = try await signInAccount("olga", password: "correct horse", port: second.port)
    back.close()
    second.signal(SIGTERM)
    #expect(try await second.exitStatus(within: 10) == 0)
  }

  @Test("the lobby keeps its history and its offline account members across a restart")
  func lobbyRestart() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-lobby-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let arguments = [
      "--store", "sqlite", "--data-dir", directory.path, "--no-console", "--lobby", "General", "--presence-grace", "0",
    ]
    let first = try await ServerProcess.start(arguments)
    let token = try await signUpAccount("olga", port: first.port)
    let (olga, _) = try await TestUser.connectAccount("olga", token: token, port: first.port)
    try await olga.send("hello lobby", to: "general", .group)
    _ = try await olga.next(until: { $0.message.text == "hello lobby" })
    olga.close()
    first.signal(SIGTERM)
    #expect(try await first.exitStatus(within: 10) == 0)

    let second = try await ServerProcess.start(arguments)
    let pete = try await second.user("pete")
    let members = try await pete.members("general")
    #expect(members.map(\.username) == ["olga", "pete"])
    #expect(members.map(\.online) == [false, true])
    #expect(members[0].hasLastSeen)
    let history = try await pete.history("general", .group, limit: 10)
    #expect(history.events.map(\.message.text).contains("hello lobby"))
    pete.close()
    second.signal(SIGTERM)
    #expect(try await second.exitStatus(within: 10) == 0)
  }

  @Test("a second server on the same data directory is refused with a clear error")
  func lockedDirectory() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("chat-lock-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let arguments = ["--store", "sqlite", "--data-dir", directory.path, "--no-console"]
    let first = try await ServerProcess.start(arguments)
    let process = Process()
    process.executableURL = try ServerProcess.executable
    process.arguments = ["--port", "0"] + arguments
    let stderr = Pipe.closedOnExec()
    process.standardError = stderr
    process.standardOutput = FileHandle.nullDevice
    let exit = ProcessExit(process)
    try exit.run(process)
    let output = OutputCollector(name: "stderr", reading: dup(stderr.fileHandleForReading.fileDescriptor))
    let status = try await withTimeout(20, "the second server to exit") { await exit.status() }
    try await output.waitForEnd()
    #expect(status == 1)
    #expect(output.text.contains("cannot open the store in \(directory.path)"))
    #expect(output.text.contains("in use by another chat server"))
    first.signal(SIGTERM)
    #expect(try await first.exitStatus(within: 10) == 0)
  }
}

extension ServerProcess {
  func user(_ name: String) async throws -> TestUser {
    try await TestUser.connect(name, port: port)
  }
}
