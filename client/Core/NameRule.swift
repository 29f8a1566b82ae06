/// The server's rule for user and group names, checked before a call so a
/// bad name gets the rule rather than a usage line: 1 to 32 characters from
/// `A-Z a-z 0-9 _ - .`.
public enum NameRule {
  /// What a name may be, in the server's words.
  public static let rule = "use 1 to 32 characters from A-Z a-z 0-9 _ - ."

  public static func isValid(_ name: String) -> Bool {
    (1...32).contains(name.utf8.count) && name.utf8.allSatisfy(isAllowed)
  }

  /// `invalid group name 'bad name': use 1 to 32 characters …`, as the server says it.
  public static func invalid(_ name: String, kind: ChatTarget.Kind) -> CommandError {
    CommandError("invalid \(kind.rawValue) '\(name)': \(rule)")
  }

  private static func isAllowed(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"), UInt8(ascii: "."):
      true
    default:
      false
    }
  }
}
