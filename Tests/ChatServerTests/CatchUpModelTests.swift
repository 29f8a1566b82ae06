import ChatAPI
import ChatStore
import Foundation
import Logging
import PropertyBased
import Testing

@testable import ChatCore
@testable import ChatGRPC

/// One random operation among three accounts (each with up to three
/// sessions) and two groups.
struct CatchUpStep: Sendable, CustomStringConvertible {
  enum Kind: Int, CaseIterable {
    case connect, disconnect, kick, create, join, leave, sendToGroup, sendToUser
  }

  let kind: Kind
  let account: Int
  let group: Int
  /// Which session (disconnect) or which recipient (sendToUser).
  let other: Int

  var description: String { "\(kind)(a\(account), g\(group), \(other))" }
}

/// Who should see what: the logged events visible to each account, in the
/// order the registry decided them, and what each open session still has to
/// receive.
struct CatchUpModel {
  static let accounts = 3
  var members: [Int: Set<Int>] = [:]
  /// Visible logged events per account, summarised.
  var visible: [[String]] = Array(repeating: [], count: accounts)
  /// How many of `visible[a]` were written to one of a's sessions.
  var position = Array(repeating: 0, count: accounts)
  /// Open sessions per account: what each must still receive.
  var sessions: [[(id: Int, expected: [String])]] = Array(repeating: [], count: accounts)
  var nextSession = 0

  static func name(_ a: Int) -> String { "acct\(a)" }
  static func group(_ g: Int) -> String { "room\(g)" }

  mutating func tell(_ audience: some Sequence<Int>, _ summary: String) {
    for a in audience {
      visible[a].append(summary)
      for index in sessions[a].indices { sessions[a][index].expected.append(summary) }
    }
  }

  /// Leaves group `g` (the others are told, or the group goes).
  mutating func leave(_ a: Int, _ g: Int, reason: String) {
    members[g]!.remove(a)
    if members[g]!.isEmpty { members[g] = nil } else { tell(members[g]!, "left \(Self.group(g)) \(Self.name(a)) \(reason)") }
  }

  /// After every step each session has taken everything: positions catch up.
  mutating func drained() {
    for a in 0..<Self.accounts where !sessions[a].isEmpty { position[a] = visible[a].count }
  }
}

@Suite("Catch-up model")
struct CatchUpModelTests {
  static let maxReplay = 4

  static let steps = zip(Gen.int(in: 0...7), Gen.int(in: 0...2), Gen.int(in: 0...1), Gen.int(in: 0...2))
    .map { CatchUpStep(kind: CatchUpStep.Kind(rawValue: $0.0)!, account: $0.1, group: $0.2, other: $0.3) }
    .array(of: 1...60)

  @Test("random connect, disconnect, send, join, leave and kick across accounts with several sessions: every session gets exactly the events visible to it, in seq order, or is told recovered: false")
  func matchesModel() async {
    await propertyCheck(count: 400, input: Self.steps) { steps in
      try await run(steps)
    }
  }

  @Test("the same over a store, where memory holds each channel's newest --max-replay events and a catch-up reads older ones of a left group from the store")
  func matchesModelOverAStore() async {
    await propertyCheck(count: 400, input: Self.steps) { steps in
      try await run(steps, store: InMemoryStore())
    }
  }

  func run(_ steps: [CatchUpStep], store: InMemoryStore? = nil) async throws {
    var registry = RegistryHarness { $0.maxReplay = Self.maxReplay }.registry
    if let store {
      registry = try ChatRegistry(
        logger: Logger(label: "model"), limits: registry.limits, store: store, format: ProtobufEventEncoding.self)
    }
    var model = CatchUpModel()
    var tokens: [TokenHash] = []
    for a in 0..<CatchUpModel.accounts {
      let token = TokenHash([UInt8(a), 1, 2, 3])
      _ = try registry.signUp(
        ChatName.validate(CatchUpModel.name(a), as: .user), passwordHash: Data([1]), token: token,
        expires: Date().addingTimeInterval(3600))
      tokens.append(token)
    }
    var open: [Int: Session] = [:]
    var lastSeq: [Int: UInt64] = [:]

    for (index, step) in steps.enumerated() {
      let a = step.account
      let g = step.group
      let caller = try registry.authenticate(token: tokens[a], charge: false)
      let group = CatchUpModel.group(g)
      switch step.kind {
      case .connect:
        guard model.sessions[a].count < 3 else { continue }
        let missed = Array(model.visible[a][model.position[a]...])
        let session = try await registry.connectAccount(token: tokens[a], requested: "", resume: LogPosition?.none)
        let id = model.nextSession
        model.nextSession += 1
        open[id] = session
        let batch = try #require(session.queue.takeReady().flatMap(Self.batch))
        guard case .welcome(let w) = batch.first?.event.kind else {
          Issue.record("step \(index): first event is not Welcome")
          return
        }
        let replayed = try batch.dropFirst().map { summary(try $0.decoded()) }
        if missed.count <= Self.maxReplay {
          #expect(w.recovered && w.replayed == missed.count, "step \(index) \(step)")
          #expect(replayed == missed, "step \(index) \(step): replay")
        } else {
          #expect(!w.recovered && w.replayed == 0 && replayed.isEmpty, "step \(index) \(step)")
        }
        model.sessions[a].append((id, []))
        var seq = lastSeq[id]
        for event in batch.dropFirst() {
          #expect(event.seq > (seq ?? 0), "step \(index): replay in seq order")
          seq = event.seq
        }
        lastSeq[id] = seq
        registry.recordWritten(batch, to: session)
      case .disconnect:
        guard !model.sessions[a].isEmpty else { continue }
        let victim = model.sessions[a][step.other % model.sessions[a].count]
        try check(open[victim.id]!, victim.expected, step: index, lastSeq: &lastSeq[victim.id], registry: registry)
        registry.disconnect(open[victim.id]!)
        open[victim.id] = nil
        model.sessions[a].removeAll { $0.id == victim.id }
      case .kick:
        _ = try registry.kick(CatchUpModel.name(a), reason: "model")
        for g in model.members.keys.sorted() where model.members[g]!.contains(a) { model.leave(a, g, reason: "kicked") }
        for session in model.sessions[a] {
          try check(open[session.id]!, session.expected, step: index, lastSeq: &lastSeq[session.id], registry: registry)
          open[session.id] = nil
        }
        model.sessions[a] = []
      case .create:
        guard model.members[g] == nil else { continue }
        try registry.createGroup(group, by: caller)
        model.members[g] = [a]
        model.tell([a], "joined \(group) \(CatchUpModel.name(a))")
      case .join:
        guard let current = model.members[g], !current.contains(a) else { continue }
        try registry.joinGroup(group, by: caller)
        model.members[g]!.insert(a)
        model.tell(model.members[g]!, "joined \(group) \(CatchUpModel.name(a))")
      case .leave:
        guard model.members[g]?.contains(a) == true else { continue }
        try registry.leaveGroup(group, by: caller)
        model.leave(a, g, reason: "left")
      case .sendToGroup:
        guard let audience = model.members[g], audience.contains(a) else { continue }
        try registry.send("m\(index)", to: Channel.Kind.group, named: group, from: caller)
        model.tell(audience, "message \(group) group \(CatchUpModel.name(a)) m\(index)")
      case .sendToUser:
        let to = step.other
        try registry.send("m\(index)", to: Channel.Kind.user, named: CatchUpModel.name(to), from: caller)
        model.tell(Set([a, to]), "message \(CatchUpModel.name(to)) user \(CatchUpModel.name(a)) m\(index)")
      }
      #expect(registry.memberSessionsAreConsistent, "step \(index)")
      // Every open session takes what it was sent, which moves its account's position.
      for a in 0..<CatchUpModel.accounts {
        for slot in model.sessions[a].indices {
          let session = model.sessions[a][slot]
          try check(open[session.id]!, session.expected, step: index, lastSeq: &lastSeq[session.id], registry: registry)
          model.sessions[a][slot].expected = []
        }
      }
      model.drained()
    }
  }

  /// The session's pending logged events match `expected`, in increasing seq order.
  private func check(
    _ session: Session, _ expected: [String], step: Int, lastSeq: inout UInt64?, registry: ChatRegistry
  ) throws {
    var received: [SharedEvent] = []
    while let next = session.queue.takeReady(), let batch = Self.batch(next) { received += batch }
    registry.recordWritten(received, to: session)
    let logged = received.filter { $0.seq > 0 }
    #expect(logged.map { summary(try! $0.decoded()) } == expected, "step \(step)")
    for event in logged {
      #expect(event.seq > (lastSeq ?? 0), "step \(step): seq order")
      lastSeq = event.seq
    }
  }

  private static func batch(_ next: SessionQueue.Next) -> [SharedEvent]? {
    if case .events(let events) = next { return events }
    return nil
  }
}
