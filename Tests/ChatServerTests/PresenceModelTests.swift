import ChatAPI
import Foundation
import PropertyBased
import Synchronization
import Testing

@testable import ChatCore

/// A clock the test moves by hand, in whole seconds.
final class ManualClock: Sendable {
  private let base = ContinuousClock.now
  private let seconds = Atomic<Int>(0)

  func now() -> ContinuousClock.Instant { base + .seconds(seconds.load(ordering: .relaxed)) }
  func advance(_ by: Int) { seconds.add(by, ordering: .relaxed) }
  var elapsed: Int { seconds.load(ordering: .relaxed) }
}

/// One random operation among three accounts (up to three sessions each),
/// one guest, and two groups.
struct PresenceStep: Sendable, CustomStringConvertible {
  enum Kind: Int, CaseIterable {
    case connect, disconnect, join, leave, kick, advance
  }

  let kind: Kind
  /// 0...2 an account, 3 the guest.
  let user: Int
  let group: Int
  /// Which session (disconnect), or seconds (advance).
  let other: Int

  var description: String { "\(kind)(u\(user), g\(group), \(other))" }
}

/// What every session should be told about presence, by the contract's
/// rules: an account's first session announces it online to everyone
/// sharing a group with it (unless it is still announced, within the
/// grace); its last session's end announces it offline once the grace has
/// passed with no new session.
struct PresenceModel {
  static let users = 4
  static let guest = 3
  let grace: Int
  var now = 0
  var groups: [Int: Set<Int>] = [:]
  /// Open sessions per user, by the test's ids.
  var sessions: [[Int]] = Array(repeating: [], count: users)
  var announced = Array(repeating: false, count: users)
  var generation = Array(repeating: 0, count: users)
  /// Offline announcements waiting for the grace: (due, user, generation).
  var pending: [(due: Int, user: Int, generation: Int)] = []
  /// PresenceChanged each session must still receive.
  var expected: [Int: [String]] = [:]

  static func name(_ u: Int) -> String { u == guest ? "guest" : "acct\(u)" }
  static func group(_ g: Int) -> String { "room\(g)" }

  func groups(of u: Int) -> [Int] { groups.filter { $0.value.contains(u) }.map(\.key) }

  mutating func announce(_ u: Int, online: Bool) {
    var watchers = Set<Int>()
    for g in groups(of: u) { watchers.formUnion(groups[g]!) }
    watchers.remove(u)
    for w in watchers {
      for s in sessions[w] { expected[s, default: []].append("\(Self.name(u)) \(online ? "online" : "offline")") }
    }
  }

  mutating func opened(_ u: Int, session: Int) {
    if u != Self.guest && sessions[u].isEmpty {
      generation[u] += 1
      if !announced[u] {
        announced[u] = true
        announce(u, online: true)
      }
    }
    sessions[u].append(session)
  }

  mutating func ended(_ u: Int, session: Int) {
    sessions[u].removeAll { $0 == session }
    expected[session] = nil
    guard sessions[u].isEmpty else { return }
    if u == Self.guest {
      for g in groups(of: u) { leave(u, g) }
      return
    }
    guard announced[u] else { return }
    if grace == 0 {
      announced[u] = false
      announce(u, online: false)
    } else {
      pending.append((now + grace, u, generation[u]))
    }
  }

  mutating func leave(_ u: Int, _ g: Int) {
    groups[g]!.remove(u)
    if groups[g]!.isEmpty { groups[g] = nil }
  }

  mutating func advance(_ seconds: Int) {
    now += seconds
    while let first = pending.first, first.due <= now {
      pending.removeFirst()
      let u = first.user
      guard sessions[u].isEmpty, announced[u], generation[u] == first.generation else { continue }
      announced[u] = false
      announce(u, online: false)
    }
  }

  /// Online as ListMembers answers it.
  func online(_ u: Int) -> Bool { u == Self.guest || announced[u] }
}

@Suite("Presence model")
struct PresenceModelTests {
  static let steps = zip(Gen.int(in: 0...5), Gen.int(in: 0...3), Gen.int(in: 0...1), Gen.int(in: 0...5))
    .map { PresenceStep(kind: PresenceStep.Kind(rawValue: $0.0)!, user: $0.1, group: $0.2, other: $0.3) }
    .array(of: 1...60)

  @Test(
    "random connects, disconnects, joins, leaves, kicks and clock moves: every session gets exactly the PresenceChanged the rules give, and ListMembers agrees",
    arguments: [0, 5])
  func matchesModel(grace: Int) async {
    await propertyCheck(count: 300, input: Self.steps) { steps in
      try run(steps, grace: grace)
    }
  }

  func run(_ steps: [PresenceStep], grace: Int) throws {
    let clock = ManualClock()
    let h = RegistryHarness(clock: clock) { $0.presenceGrace = .seconds(grace) }
    let registry = h.registry
    var model = PresenceModel(grace: grace)
    var tokens: [TokenHash] = []
    for a in 0..<PresenceModel.guest { tokens.append(try h.signUp(PresenceModel.name(a))) }
    var open: [Int: Session] = [:]
    var nextSession = 0

    func caller(_ u: Int) throws -> Caller? {
      if u == PresenceModel.guest {
        return model.sessions[u].isEmpty ? nil : try registry.caller(PresenceModel.name(u))
      }
      return try h.caller(tokens[u])
    }

    for step in steps {
      let u = step.user
      switch step.kind {
      case .connect:
        guard model.sessions[u].count < (u == PresenceModel.guest ? 1 : 3) else { continue }
        let session =
          u == PresenceModel.guest
          ? try registry.connect(ChatName.validate(PresenceModel.name(u), as: .user))
          : try registry.connect(token: tokens[u], requested: "", resume: nil)
        nextSession += 1
        open[nextSession] = session
        model.opened(u, session: nextSession)
      case .disconnect:
        guard !model.sessions[u].isEmpty else { continue }
        let id = model.sessions[u][step.other % model.sessions[u].count]
        registry.disconnect(open.removeValue(forKey: id)!)
        model.ended(u, session: id)
      case .join:
        guard let caller = try caller(u), model.groups[step.group]?.contains(u) != true else { continue }
        if model.groups[step.group] == nil {
          try registry.createGroup(PresenceModel.group(step.group), by: caller)
        } else {
          try registry.joinGroup(PresenceModel.group(step.group), by: caller)
        }
        model.groups[step.group, default: []].insert(u)
      case .leave:
        guard let caller = try caller(u), model.groups[step.group]?.contains(u) == true else { continue }
        try registry.leaveGroup(PresenceModel.group(step.group), by: caller)
        model.leave(u, step.group)
      case .kick:
        guard u == PresenceModel.guest ? !model.sessions[u].isEmpty : true else { continue }
        _ = try registry.kick(PresenceModel.name(u), reason: "")
        for id in model.sessions[u] {
          open[id] = nil
          model.ended(u, session: id)
        }
        for g in model.groups(of: u) { model.leave(u, g) }
      case .advance:
        clock.advance(step.other + 1)
        registry.expirePresence(now: clock.now())
        model.advance(step.other + 1)
      }

      #expect(registry.memberSessionsAreConsistent, "after \(step)")
      for (id, session) in open {
        let got = presence(try events(session))
        #expect(got == model.expected[id] ?? [], "session \(id) after \(step)")
        model.expected[id] = nil
      }
      for (g, members) in model.groups {
        let asker = members.min()!
        guard let caller = try caller(asker) else { continue }
        let listed = try registry.listMembers(PresenceModel.group(g), by: caller)
        let expected = members.sorted { PresenceModel.name($0) < PresenceModel.name($1) }
        #expect(listed.map(\.name.display) == expected.map(PresenceModel.name), "after \(step)")
        #expect(listed.map(\.online) == expected.map(model.online), "members of room\(g) after \(step)")
      }
    }
  }
}
