import ChatClientCore
import Foundation

/// Signing in and out for the CLI: passwords from `CHAT_PASSWORD` or the console, tokens in
/// their files, and the switch of the session to the account.
struct SessionAccounts: AccountSession {
  /// Where a script may put the password instead of the next input line.
  static let passwordVariable = "CHAT_PASSWORD"

  let state: SessionState
  let tokens: TokenStore
  let console: any Console
  let formatter: EventFormatter

  var currentUsername: String? { state.currentUsername }
  var isAccount: Bool { state.account != nil }

  func password(for username: String, confirm: Bool) async throws -> String? {
    if let password = ProcessInfo.processInfo.environment[Self.passwordVariable], !password.isEmpty {
      return password
    }
    guard let password = await console.readSecret(prompt: "password for \(username.terminalSafe): ") else {
      return nil
    }
    if confirm && console.isTerminal {
      guard let again = await console.readSecret(prompt: "the same password again: ") else { return nil }
      guard again == password else { throw CommandError("the two passwords differ; not signed up.") }
    }
    return password
  }

  func signedIn(_ token: AccountToken) async throws {
    do {
      try tokens.save(token)
      console.print(formatter.note("signed in as \(token.username.terminalSafe); the token is kept in \(tokens.file(for: token.username).path.terminalSafe)"))
    } catch {
      console.print(formatter.failure(error, prefix: "signed in as \(token.username.terminalSafe), but the token could not be kept"))
    }
    // The guest stream (if any) ends; the next Connect carries the token.
    state.change(to: .account(token))
  }

  func signedOut() async throws {
    guard let token = state.account else { return }
    defer { state.change(to: .none) }
    try tokens.delete(token.username)
    console.print(formatter.note("signed out; the token of \(token.username.terminalSafe) is revoked and deleted"))
  }
}
