import Foundation
import Testing

@testable import ChatConsole
@testable import ChatCore

@Suite("Console: accounts and sessions")
struct ConsoleAccountTests {
  @Test("accounts lists each account online or offline with its groups; sessions lists a user's open sessions")
  func accountsAndSessions() throws {
    let c = try ConsoleHarness()
    let token = TokenHash([7, 7, 7])
    _ = try c.registry.signUp(
      ChatName.validate("Zoe", as: .user), passwordHash: Data([1]), token: token, expires: Date().addingTimeInterval(60))
    #expect(c.run("accounts").lines == ["Zoe  offline, last seen 1h02m05s ago  no groups", "1 account"])
    let first = try c.registry.connect(token: token, requested: "", resume: nil)
    _ = try c.registry.connect(token: token, requested: "zoe", resume: nil)
    try c.registry.joinGroup("dev", by: c.registry.authenticate(token: token, charge: false))
    #expect(c.run("accounts").lines == ["Zoe  online, 2 sessions  1 group (dev)", "1 account"])
    let sessions = c.run("sessions zoe").lines
    #expect(sessions.count == 3)
    #expect(sessions[0].hasPrefix("session \(first.tag)  connected "))
    #expect(sessions.last == "Zoe (account): 2 open sessions")
    #expect(c.run("sessions carol").lines.last == "carol (guest): 1 open session")
    #expect(c.run("sessions nobody").lines == ["error: no user or account 'nobody': 'users' and 'accounts' list them."])
  }

  @Test("kick ends every session of an account and takes it out of its groups")
  func kickAccount() throws {
    let c = try ConsoleHarness()
    let token = TokenHash([8])
    _ = try c.registry.signUp(
      ChatName.validate("yan", as: .user), passwordHash: Data([1]), token: token, expires: Date().addingTimeInterval(60))
    _ = try c.registry.connect(token: token, requested: "", resume: nil)
    _ = try c.registry.connect(token: token, requested: "", resume: nil)
    try c.registry.joinGroup("lounge", by: c.registry.authenticate(token: token, charge: false))
    #expect(c.run("kick yan").lines == ["kicked yan: left 1 group (Lounge), deleted no empty groups"])
    #expect(c.run("sessions yan").lines.last == "yan (account): 0 open sessions")
    #expect(c.registry.members(ofGroup: ChatName("lounge")!)?.members.map(\.name.display) == ["alice", "Bob"])
  }
}
