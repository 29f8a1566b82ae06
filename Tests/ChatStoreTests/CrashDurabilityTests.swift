import ChatTestSupport
import Foundation
import Synchronization
import Testing

@testable import ChatStore

@Suite("SQLite store: kill -9")
struct CrashDurabilityTests {
  /// `chat-store-crash-helper`, next to the test binary in the build products directory.
  static func helper() throws -> URL {
    let products = URL(fileURLWithPath: try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      .deletingLastPathComponent()
    return products.appendingPathComponent("chat-store-crash-helper")
  }

  /// Collects a pipe's lines and resumes whoever waits for a count of them.
  final class Lines: Sendable {
    private struct State {
      var text = ""
      var ended = false
      var waiter: (count: Int, continuation: CheckedContinuation<Void, Never>)?
    }
    private let state = Mutex(State())

    /// Reads on a thread of its own with blocking reads: the end of the
    /// output (every write end closed) is an empty read, never missed.
    init(_ pipe: Pipe) {
      let handle = pipe.fileHandleForReading
      let thread = Thread { [self] in
        while true {
          let data = handle.availableData
          let resume = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.text += String(decoding: data, as: UTF8.self)
            if data.isEmpty { state.ended = true }
            guard let waiter = state.waiter, state.ended || Self.acked(state.text).count >= waiter.count else {
              return nil
            }
            state.waiter = nil
            return waiter.continuation
          }
          resume?.resume()
          if data.isEmpty { return }
        }
      }
      thread.start()
    }

    var text: String { state.withLock { $0.text } }

    static func acked(_ text: String) -> [UInt64] {
      text.split(separator: "\n").compactMap { $0.hasPrefix("acked ") ? UInt64($0.dropFirst(6)) : nil }
    }

    /// Returns once `count` acknowledgements were printed, the output ended,
    /// or the task is cancelled (so a timeout racing it can end).
    func waitForAcks(_ count: Int) async {
      await withTaskCancellationHandler {
        await withCheckedContinuation { continuation in
          let ready = state.withLock { state in
            if state.ended || Self.acked(state.text).count >= count || Task.isCancelled { return true }
            state.waiter = (count, continuation)
            return false
          }
          if ready { continuation.resume() }
        }
      } onCancel: {
        let waiter = state.withLock { state in
          defer { state.waiter = nil }
          return state.waiter?.continuation
        }
        waiter?.resume()
      }
    }
  }

  @Test("every append acknowledged before kill -9 is in the store after it", .timeLimit(.minutes(2)))
  func acknowledgedSurvivesKill() async throws {
    let directory = try TemporaryDirectory()
    defer { directory.remove() }
    let process = Process()
    process.executableURL = try Self.helper()
    process.arguments = [directory.data, "1000000"]
    let stdin = Pipe.closedOnExec()
    let stdout = Pipe.closedOnExec()
    process.standardInput = stdin
    process.standardOutput = stdout
    let lines = Lines(stdout)
    try process.run()
    // The child has its own copies; ours would keep the pipe open past its death.
    try stdout.fileHandleForWriting.close()
    try stdin.fileHandleForReading.close()
    // Kill it in full flow: appends queued, a commit likely under way.
    do {
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await lines.waitForAcks(3000) }
        group.addTask {
          try await Task.sleep(for: .seconds(60))
          throw StoreError.timedOut(.seconds(60))
        }
        defer { group.cancelAll() }
        try await group.next()
      }
    } catch {
      kill(process.processIdentifier, SIGKILL)
      throw error
    }
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == SIGKILL)
    // Let the pipe's last bytes arrive: the output ends when the process's end of it closes.
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { await lines.waitForAcks(Int.max) }
      group.addTask {
        try await Task.sleep(for: .seconds(10))
        throw StoreError.timedOut(.seconds(10))
      }
      defer { group.cancelAll() }
      try await group.next()
    }
    let acked = Lines.acked(lines.text)
    #expect(acked.count >= 3000)
    let epoch = lines.text.split(separator: "\n").first { $0.hasPrefix("epoch ") }?.dropFirst(6)

    // The lock died with the process; the store opens and holds every acknowledged seq.
    let store = try openStore(directory)
    #expect(epoch.map(String.init) == store.epoch)
    let stored = Set(try store.load().log.map(\.seq))
    let lost = acked.filter { !stored.contains($0) }
    #expect(lost.isEmpty, "acknowledged but lost: \(lost.prefix(10))")
    print("kill -9 after \(acked.count) acknowledged appends: \(stored.count) rows stored, \(lost.count) lost")
    await store.close()
  }
}
