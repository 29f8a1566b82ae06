/// A validated username or group name: 1 to 32 characters from
/// `A-Z a-z 0-9 _ - .`, compared case-insensitively.
public struct ChatName: Hashable, Sendable, CustomStringConvertible {
  /// The name as it was written (the registry keeps the first spelling it saw).
  public let display: String
  /// The case-folded form that identifies the name.
  public let key: String

  public static let maxLength = 32

  /// What the name names: users and groups are separate namespaces.
  public enum Kind: String, Sendable {
    case user = "username"
    case group = "group name"
  }

  /// Returns the name if `raw` is valid, or nil.
  public init?(_ raw: String) {
    let utf8 = raw.utf8
    guard (1...Self.maxLength).contains(utf8.count), utf8.allSatisfy(Self.isAllowed) else {
      return nil
    }
    self.display = raw
    self.key = raw.lowercased()
  }

  /// Returns the name if `raw` is valid; throws INVALID_ARGUMENT naming it otherwise.
  public static func validate(_ raw: String, as kind: Kind) throws(ChatError) -> ChatName {
    guard let name = ChatName(raw) else { throw .invalidName(kind, raw) }
    return name
  }

  public var description: String { display }

  private static func isAllowed(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
      return true
    default:
      return false
    }
  }
}
