import ChatTestSupport
import ChatAPI
import ChatCore
import ChatServer
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Synchronization
import Testing

/// This process's resident set size, from /proc.
func residentBytes() -> Int {
  guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
    let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
    let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
  else { return 0 }
  return kib * 1024
}

@Suite("Slow consumers and churn", .serialized)
struct LoadAbuseTests {
  @Test("20 members that never read are ended RESOURCE_EXHAUSTED while readers get every message in order, in bounded memory")
  func slowConsumers() async throws {
    // The slow members read their status only after the flood: a grace long
    // enough that their streams are not reset first (SessionEndTests).
    let server = try await TestServer {
      $0.limits.maxQueueBytes = 64 * 1024
      $0.endGrace = .seconds(60)
    }
    let alice = try await server.user("alice")
    let bob = try await server.user("bob")
    try await alice.create("flood")
    try await bob.join("flood")
    var slow: [SilentUser] = []
    for i in 0..<20 {
      let user = try await SilentUser.connect("slow\(i)", port: server.port)
      _ = try await alice.chat.joinGroupChat(.with { $0.group = "flood" }, metadata: ["authorization": "slow\(i)"])
      slow.append(user)
    }
    // Drain the join notices so both readers start at the flood.
    _ = try await alice.next(until: { $0.memberJoined.username == "slow19" })
    _ = try await bob.next(until: { $0.memberJoined.username == "slow19" })

    let before = residentBytes()
    let count = 300
    let text = String(repeating: "z", count: 2_000)
    let reader = Task {
      var next = 0
      while next < count {
        let event = try await bob.next()
        guard event.hasMessage else { continue }
        #expect(event.message.text.hasPrefix("\(next) "), "bob got \(event.message.text.prefix(8)) for \(next)")
        next += 1
      }
    }
    for i in 0..<count {
      try await alice.send("\(i) \(text)", to: "flood", .group)
    }
    var received = 0
    while received < count {
      let event = try await alice.next()
      guard event.hasMessage else { continue }
      #expect(event.message.text.hasPrefix("\(received) "))
      received += 1
    }
    try await reader.value
    let growth = residentBytes() - before

    #expect(server.registry.snapshot().groups.first?.members == ["alice", "bob"])
    let ended = server.logs.entries.filter { $0.metadata["reason"] == "slow_consumer" }
    #expect(ended.count == 20)
    // 20 stalled streams each hold at most the queue limit plus HTTP/2 and
    // socket buffers: far below 64 MiB however the flood is sized.
    #expect(growth < 64 << 20, "RSS grew \(growth >> 20) MiB")
    for user in slow {
      let end = await user.readToEnd()
      #expect(end?.code == .resourceExhausted)
      #expect(end?.message.contains("slow consumer") == true)
      user.close()
    }
    alice.close()
    bob.close()
    try await server.stop()
  }

  @Test(
    "20,000 connect–disconnect cycles leave no session behind and RSS near where it started",
    .enabled(if: ProcessInfo.processInfo.environment["CHAT_QUICK_TESTS"] == nil, "CHAT_QUICK_TESTS skips the long churn"))
  func churn() async throws {
    // Warning level: an in-memory log of 40,000 connects and disconnects
    // would itself look like a leak.
    let server = try await TestServer(logLevel: .warning)
    let observer = try await server.user("observer")
    let workers = 25
    // One group per worker, so each cycle tells only the observer.
    for w in 0..<workers { try await observer.create("churn\(w)") }
    let port = server.port
    /// Each worker connects, joins its group, and disconnects (cancels), `cycles`
    /// times. A connection serves at most 150 cycles: grpc-swift's transport
    /// closes a connection that resets more than 200 streams in 10 s (rapid
    /// reset protection), and every cancelled Connect is a reset.
    @Sendable func churn(cycles: Int) async throws {
      try await withThrowingTaskGroup(of: Void.self) { group in
        for w in 0..<workers {
          group.addTask {
            for start in stride(from: 0, to: cycles, by: 150) {
              try await withGRPCClient(
                transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
              ) { client in
                let chat = Chat_V1_ChatService.Client(wrapping: client)
                for c in start..<min(cycles, start + 150) {
                  let name = "w\(w)-\(c)"
                  try await chat.connect(.with { $0.username = name }) { response in
                    var events = response.messages.makeAsyncIterator()
                    _ = try await events.next()  // Welcome
                    _ = try await chat.joinGroupChat(.with { $0.group = "churn\(w)" }, metadata: ["authorization": .string(name)])
                  }
                }
              }
            }
          }
        }
        try await group.waitForAll()
      }
    }
    /// Waits until the observer has seen `count` more sessions leave.
    @Sendable func awaitLeaves(_ count: Int) async throws {
      var left = 0
      while left < count {
        let event = try await observer.next(30)
        if event.memberLeft.reason == .disconnected { left += 1 }
      }
    }

    // Warm-up: 1,000 cycles, so allocator pools and connection buffers exist.
    async let warmedUp: Void = awaitLeaves(workers * 40)
    try await churn(cycles: 40)
    try await warmedUp
    let before = residentBytes()
    async let done: Void = awaitLeaves(workers * 800)
    try await churn(cycles: 800)  // 20,000 cycles
    try await done
    let growth = residentBytes() - before

    let snapshot = server.registry.snapshot()
    #expect(snapshot.users.map(\.name) == ["observer"])
    #expect(snapshot.groups.allSatisfy { $0.members == ["observer"] })
    #expect(server.registry.counts().sessionsEnded["disconnected"] == 21_000)
    // The process's RSS, and other suites run in this process meanwhile (a
    // full run saw 18 MiB). A leaked session costs about 36 KiB: 64 MiB is
    // less than 2 KiB a cycle.
    #expect(growth < 64 << 20, "RSS grew \(growth >> 20) MiB over 20,000 cycles")
    observer.close()
    try await server.stop()
  }
}
