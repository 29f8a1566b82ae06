import ChatAPI
import PropertyBased
import Testing

@testable import ChatConsole
@testable import ChatCore
@testable import ChatGRPC
@testable import ChatServer

/// One random operation on the registry: `kind` picks it, `user` and `group`
/// pick among four users and three groups.
struct ModelStep: Sendable, CustomStringConvertible {
  enum Kind: Int, CaseIterable {
    case connect, disconnect, kick, create, join, leave, sendToGroup, sendToUser
  }

  let kind: Kind
  let user: Int
  let group: Int

  var description: String { "\(kind)(u\(user), g\(group))" }
}

/// What the registry should look like: who is connected, which groups exist
/// with which members, and which events each operation delivers to whom.
struct RegistryModel {
  var connected: Set<Int> = []
  var groups: [Int: Set<Int>] = [:]

  static func userName(_ u: Int) -> String { "User\(u)" }
  static func groupName(_ g: Int) -> String { "Room\(g)" }

  /// Applies `step`; returns the error the registry must throw, or the events
  /// (summarised) each user must receive.
  mutating func apply(_ step: ModelStep, index: Int) -> Result<[Int: [String]], ChatError> {
    let u = step.user
    let g = step.group
    let user = Self.userName(u)
    let group = Self.groupName(g)
    var events: [Int: [String]] = [:]
    func tell(_ members: some Sequence<Int>, _ summary: String) {
      for member in members { events[member, default: []].append(summary) }
    }
    func leaveAll(reason: String) {
      connected.remove(u)
      for g in groups.keys.sorted() where groups[g]!.contains(u) {
        groups[g]!.remove(u)
        if groups[g]!.isEmpty { groups[g] = nil } else { tell(groups[g]!, "left \(Self.groupName(g)) \(user) \(reason)") }
      }
    }

    switch step.kind {
    case .connect:
      guard !connected.contains(u) else { return .failure(.userAlreadyConnected(user)) }
      connected.insert(u)
      tell([u], "welcome \(user)")
    case .disconnect:
      if connected.contains(u) { leaveAll(reason: "disconnected") }
    case .kick:
      guard connected.contains(u) else { return .failure(.noSuchUser(user.lowercased())) }
      leaveAll(reason: "kicked")
    default:
      guard connected.contains(u) else { return .failure(.unknownCaller(user.lowercased())) }
      switch step.kind {
      case .create:
        guard groups[g] == nil else { return .failure(.groupAlreadyExists(group)) }
        groups[g] = [u]
        tell([u], "joined \(group) \(user)")
      case .join:
        guard groups[g] != nil else { return .failure(.noSuchGroup(group.lowercased())) }
        guard !groups[g]!.contains(u) else { return .failure(.alreadyMember(group: group, user: user)) }
        groups[g]!.insert(u)
        tell(groups[g]!, "joined \(group) \(user)")
      case .leave:
        guard groups[g] != nil else { return .failure(.noSuchGroup(group.lowercased())) }
        guard groups[g]!.contains(u) else { return .failure(.notMemberCannotLeave(group: group, user: user)) }
        groups[g]!.remove(u)
        if groups[g]!.isEmpty { groups[g] = nil } else { tell(groups[g]!, "left \(group) \(user) left") }
      case .sendToGroup:
        guard let members = groups[g] else { return .failure(.noSuchGroup(group.lowercased())) }
        guard members.contains(u) else { return .failure(.notMemberCannotSend(group: group, user: user)) }
        tell(members, "message \(group) group \(user) m\(index)")
      case .sendToUser:
        let to = (u + g + 1) % 4
        guard connected.contains(to) else { return .failure(.noSuchUser(Self.userName(to).lowercased())) }
        tell(Set([u, to]), "message \(Self.userName(to)) user \(user) m\(index)")
      default:
        break
      }
    }
    return .success(events)
  }
}

/// The same summary the model writes, from a real event.
func summary(_ event: Chat_V1_Event) -> String {
  switch event.kind {
  case .welcome(let w): "welcome \(w.username)"
  case .memberJoined(let j): "joined \(j.group) \(j.username)"
  case .memberLeft(let l): "left \(l.group) \(l.username) \(l.reason == .kicked ? "kicked" : l.reason == .left ? "left" : "disconnected")"
  case .message(let m): "message \(m.channel.name) \(m.channel.type == .group ? "group" : "user") \(m.sender) \(m.text)"
  case .notice(let n): "notice \(n.text)"
  case .presence(let p): "presence \(p.username) \(p.online)"
  case nil: "empty"
  }
}

@Suite("Registry model")
struct RegistryModelTests {
  static let steps = zip(Gen.int(in: 0...7), Gen.int(in: 0...3), Gen.int(in: 0...2))
    .map { ModelStep(kind: ModelStep.Kind(rawValue: $0.0)!, user: $0.1, group: $0.2) }
    .array(of: 1...60)

  @Test("random connect, disconnect, create, join, leave, send and kick sequences match a simple model after every step")
  func matchesModel() async {
    await propertyCheck(count: 300, input: Self.steps) { steps in
      try runAgainstModel(steps)
    }
  }

  /// Runs `steps` on a fresh registry, comparing errors, delivered events and
  /// contents with the model after each one.
  func runAgainstModel(_ steps: [ModelStep]) throws {
    let h = RegistryHarness()
    let registry = h.registry
    var model = RegistryModel()
    var sessions: [Int: Session] = [:]

    for (index, step) in steps.enumerated() {
      let user = RegistryModel.userName(step.user).lowercased()
      let group = RegistryModel.groupName(step.group)
      let expected = model.apply(step, index: index)
      var actualError: ChatError?
      do {
        switch step.kind {
        case .connect: sessions[step.user] = try registry.connect(ChatName.validate(RegistryModel.userName(step.user), as: .user))
        case .disconnect: if let session = sessions[step.user] { registry.disconnect(session) }
        case .kick: _ = try registry.kick(user, reason: "model")
        case .create: try registry.createGroup(group, by: user)
        case .join: try registry.joinGroup(group.lowercased(), by: user)
        case .leave: try registry.leaveGroup(group.lowercased(), by: user)
        case .sendToGroup: try registry.send("m\(index)", to: Chat_V1_Channel(group.lowercased(), .group), from: user)
        case .sendToUser:
          let to = RegistryModel.userName((step.user + step.group + 1) % 4).lowercased()
          try registry.send("m\(index)", to: Chat_V1_Channel(to, .user), from: user)
        }
      } catch {
        actualError = error
      }

      switch expected {
      case .failure(let error):
        #expect(actualError == error, "step \(index) \(step)")
      case .success(let events):
        #expect(actualError == nil, "step \(index) \(step)")
        for u in 0..<4 {
          guard let session = sessions[u] else { continue }
          let received = try ChatServerTests.events(session).map(summary)
          #expect(received == events[u, default: []], "step \(index) \(step): events of u\(u)")
        }
      }
      if step.kind == .kick || step.kind == .disconnect, !model.connected.contains(step.user) {
        sessions[step.user] = nil
      }

      let snapshot = registry.snapshot()
      checkInvariants(snapshot)
      #expect(registry.memberSessionsAreConsistent, "step \(index) \(step)")
      #expect(Set(snapshot.users.map(\.name)) == Set(model.connected.map(RegistryModel.userName)), "step \(index) \(step)")
      let groups = Dictionary(uniqueKeysWithValues: snapshot.groups.map { ($0.name, Set($0.members)) })
      let modelGroups = Dictionary(
        uniqueKeysWithValues: model.groups.map { (RegistryModel.groupName($0.key), Set($0.value.map(RegistryModel.userName))) })
      #expect(groups == modelGroups, "step \(index) \(step)")
    }
  }
}
