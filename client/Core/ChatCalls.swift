import ChatAPI

/// The calls a session makes for its commands. The CLI makes them over gRPC
/// with the session's authorization; tests fake them.
public protocol ChatCalls: Sendable {
  func createGroup(_ group: String) async throws
  func joinGroup(_ group: String) async throws
  func leaveGroup(_ group: String) async throws
  func listChannels() async throws -> [Chat_V1_Channel]
  /// A group's members, if the session is one of them.
  func listMembers(_ group: String) async throws -> [Chat_V1_Member]
  func send(_ text: String, to target: ChatTarget) async throws
  /// One page of `target`'s logged events older than `beforeSeq` (0: the newest), newest first.
  func history(of target: ChatTarget, beforeSeq: UInt64, limit: Int) async throws -> Chat_V1_HistoryResponse
  /// Creates an account and signs it in (no authorization needed).
  func signUp(_ username: String, password: String) async throws -> AccountToken
  /// Signs in to an account (no authorization needed).
  func signIn(_ username: String, password: String) async throws -> AccountToken
  /// Revokes the token the calls carry.
  func signOut() async throws
}

/// Where a session's lines go, and what a terminal shows besides them.
public protocol SessionOutput: Sendable {
  /// Prints one line, above what is being typed.
  func print(_ line: String)
  /// Where plain lines go now, for the prompt.
  func show(target: ChatTarget?)
  /// The names Tab completes.
  func complete(from completions: Completions)
}

extension SessionOutput {
  public func show(target: ChatTarget?) {}
  public func complete(from completions: Completions) {}
}

/// The session's side of signing in and out: the CLI reads passwords from the terminal, keeps
/// tokens in files and reconnects as the account; tests fake it.
public protocol AccountSession: Sendable {
  /// The name the session runs as now (it changes at a sign-in); nil before any Welcome.
  var currentUsername: String? { get }
  /// Whether the session runs as an account (with a token) rather than as a guest.
  var isAccount: Bool { get }
  /// The password for `username`, never echoed; nil if none was given (end of input, Ctrl-C).
  /// `confirm`: ask twice where a person types it (at sign-up).
  func password(for username: String, confirm: Bool) async throws -> String?
  /// `token` was issued: keep it and go on as its account.
  func signedIn(_ token: AccountToken) async throws
  /// The token was revoked: forget it.
  func signedOut() async throws
}
