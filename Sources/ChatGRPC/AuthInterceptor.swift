import ChatAPI
import ChatAuth
import ChatCore
import GRPCCore
import Synchronization

/// Authenticates the calls it is applied to (`ChatApplication` applies it to
/// every call but Connect, which names its own user), and rate-limits those
/// that change state. The `authorization` metadata (`<username>` or `Bearer <username>`;
/// in `.session` mode `Bearer <session_id>`) must name a connected session,
/// which is then the caller the handler acts for.
public struct AuthInterceptor: ServerInterceptor {
  /// The caller of the RPC being handled.
  @TaskLocal static var caller: Caller?

  let registry: ChatRegistry
  let mode: AuthMode
  let accounts: AccountServices

  /// The calls that take a rate-limit token.
  private static let limited: Set<MethodDescriptor> = [
    Chat_V1_ChatService.Method.SendMessage.descriptor,
    Chat_V1_ChatService.Method.CreateGroupChat.descriptor,
    Chat_V1_ChatService.Method.JoinGroupChat.descriptor,
    Chat_V1_ChatService.Method.LeaveGroupChat.descriptor,
  ]

  public init(registry: ChatRegistry, mode: AuthMode, accounts: AccountServices = AccountServices()) {
    self.registry = registry
    self.mode = mode
    self.accounts = accounts
  }

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    guard let claimed = Self.credential(in: request.metadata) else { throw ChatError.missingAuthorization }
    let charge = Self.limited.contains(context.descriptor)
    // An account's token is told apart by its form: no username or session id looks like one.
    let caller =
      if AccessToken.looksLikeToken(claimed) {
        try registry.authenticate(token: TokenHash([UInt8](AccessToken.hash(claimed))), charge: charge)
      } else if accounts.jwt != nil, AccountServices.looksLikeJWT(claimed) {
        try await accounts.caller(forJWT: claimed, registry: registry, charge: charge)
      } else {
        try registry.authenticate(claimed, mode: mode, charge: charge)
      }
    CallRecord.current?.caller = caller
    return try await Self.$caller.withValue(caller) { try await next(request, context) }
  }

  /// The value of `authorization`, without a `Bearer ` prefix; nil if missing or blank.
  ///
  /// Read on every call, so it scans UTF-8 bytes: header whitespace is ASCII
  /// (RFC 9110's OWS), and `Character`-wise trimming cost ~5 % of the
  /// server's CPU on a direct-message flood.
  static func credential(in metadata: Metadata) -> String? {
    guard let raw = metadata[stringValues: "authorization"].first(where: { _ in true }) else { return nil }
    var value = Substring(raw).trimmingASCIIWhitespace()
    if value.utf8.starts(with: "bearer ".utf8, by: { asciiLowercased($0) == $1 }) {
      value = value[value.utf8.index(value.startIndex, offsetBy: 7)...].trimmingASCIIWhitespace()
    }
    return value.isEmpty ? nil : String(value)
  }

  private static func asciiLowercased(_ byte: UInt8) -> UInt8 {
    (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte | 0x20 : byte
  }
}

/// What the request log learns about a call from the interceptors inside it.
final class CallRecord: Sendable {
  @TaskLocal static var current: CallRecord?

  private let state = Mutex<Caller?>(nil)

  var caller: Caller? {
    get { state.withLock { $0 } }
    set { state.withLock { $0 = newValue } }
  }
}

extension Substring {
  /// Without leading and trailing ASCII whitespace (space, tab, CR, LF, VT, FF).
  func trimmingASCIIWhitespace() -> Substring {
    func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || (0x09...0x0D).contains(byte) }
    guard let first = utf8.firstIndex(where: { !isSpace($0) }), let last = utf8.lastIndex(where: { !isSpace($0) })
    else { return self[endIndex...] }
    return self[first...last]
  }
}
