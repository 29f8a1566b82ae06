import ChatTestSupport
import ChatAPI
import ChatCore
import ChatServer
import GRPCCore
import Testing

/// The registry's invariants, checked on a snapshot.
func checkInvariants(_ snapshot: RegistrySnapshot, sourceLocation: SourceLocation = #_sourceLocation) {
  let users = Dictionary(uniqueKeysWithValues: snapshot.users.map { ($0.name, Set($0.groups)) })
  for group in snapshot.groups {
    #expect(!group.members.isEmpty, "empty group \(group.name)", sourceLocation: sourceLocation)
    for member in group.members {
      #expect(users[member]?.contains(group.name) == true, "\(member) in \(group.name) without a session", sourceLocation: sourceLocation)
    }
  }
  let memberships = snapshot.groups.reduce(0) { $0 + $1.members.count }
  #expect(memberships == users.values.reduce(0) { $0 + $1.count }, sourceLocation: sourceLocation)
}

@Suite("Concurrency")
struct ConcurrencyTests {
  @Test("many clients creating, joining, leaving, sending and disconnecting at once leave a consistent registry and one order per group")
  func manyClients() async throws {
    let server = try await TestServer()
    let observer = try await server.user("observer")
    for g in ["g0", "g1", "g2"] { try await observer.create(g) }
    let names = (0..<8).map { "u\($0)" }
    var users: [TestUser] = []
    for name in names { users.append(try await server.user(name)) }
    let allowed: Set<RPCError.Code> = [.alreadyExists, .notFound, .failedPrecondition, .permissionDenied]

    try await withThrowingTaskGroup(of: Void.self) { group in
      for (index, user) in users.enumerated() {
        // Reader: message ids must strictly increase within every session.
        group.addTask {
          var lastID: UInt64 = 0
          while true {
            let event: Chat_V1_Event
            do { event = try await user.next(20) } catch { return }  // stream ended (a quitter)
            guard event.hasMessage else { continue }
            #expect(event.message.id > lastID, "\(user.name) saw \(event.message.id) after \(lastID)")
            lastID = event.message.id
            if event.message.text == "done", event.message.sender == user.name { return }
          }
        }
        // Writer: a seeded random walk over the API.
        group.addTask {
          var random = SeededGenerator(seed: UInt64(index + 1))
          for step in 0..<60 {
            if index >= 6 && step == 30 {
              // Two users quit half way, from inside g0 so the observer sees it.
              _ = await rpcError { try await user.join("g0") }
              user.close()
              return
            }
            let g = "g\(Int.random(in: 0..<5, using: &random))"
            let error = await rpcError {
              switch Int.random(in: 0..<6, using: &random) {
              case 0: try await user.create(g)
              case 1: try await user.join(g)
              case 2: try await user.leave(g)
              case 3: try await user.send("m\(step)", to: names.randomElement(using: &random)!, .user)
              default: try await user.send("m\(step)", to: g, .group)
              }
            }
            if let error, !allowed.contains(error.code) {
              Issue.record("\(user.name): unexpected \(error)")
            }
          }
          // Everyone ends in g0, so the observer sees each disconnect.
          _ = await rpcError { try await user.join("g0") }
          try await user.send("done", to: user.name, .user)
        }
      }
      try await group.waitForAll()
    }
    checkInvariants(server.registry.snapshot())

    for user in users { user.close() }
    // All 8 leave g0 as they disconnect: wait for all the MemberLeft events.
    var gone = Set<String>()
    while gone.count < names.count {
      let event = try await observer.next(10)
      if event.memberLeft.group == "g0" && event.memberLeft.reason == .disconnected {
        gone.insert(event.memberLeft.username)
      }
    }
    let snapshot = server.registry.snapshot()
    checkInvariants(snapshot)
    #expect(snapshot.users.map(\.name) == ["observer"])
    #expect(snapshot.groups.allSatisfy { $0.members == ["observer"] })
    observer.close()
    try await server.stop()
  }
}

/// SplitMix64: reproducible random choices for tests.
struct SeededGenerator: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
