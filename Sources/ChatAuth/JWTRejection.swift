/// Why a JWT was not accepted: one sentence for the caller's status message. Never includes the
/// token or any part of it.
public struct JWTRejection: Error, Sendable, Equatable, CustomStringConvertible {
  public var reason: String

  public init(reason: String) {
    self.reason = reason
  }

  public var description: String { reason }
}
