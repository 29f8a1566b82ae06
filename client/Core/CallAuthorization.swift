import ChatAPI

/// How the client's calls prove who they are; it must match the server's
/// `--auth`.
public enum CallAuthorization: String, CaseIterable, Sendable {
  /// `authorization: <username>`: the contract's rule, and the server's default.
  case username
  /// `authorization: Bearer <session_id>`, the session id from Welcome.
  case session

  /// The `authorization` metadata value for the session `welcome` began.
  public func value(for welcome: Chat_V1_Welcome) -> String {
    switch self {
    case .username: welcome.username
    case .session: "Bearer \(welcome.sessionID)"
    }
  }
}
