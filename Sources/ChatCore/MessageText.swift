/// The rules for message and notice text: 1 to 4096 bytes of UTF-8, not only
/// whitespace, no control characters but tab and newline.
public enum MessageText {
  public static let maxBytes = 4096

  /// Throws INVALID_ARGUMENT saying what is wrong with `text`, if anything.
  public static func validate(_ text: String) throws(ChatError) {
    let bytes = text.utf8.count
    guard bytes > 0 else { throw .invalidText("text is empty") }
    guard bytes <= maxBytes else {
      throw .invalidText("text is \(bytes) bytes, more than the \(maxBytes)-byte limit")
    }
    var onlyWhitespace = true
    for (offset, scalar) in text.unicodeScalars.enumerated() {
      if isForbiddenControl(scalar) {
        throw .invalidText("text has control character \(scalar.codePointName) at character \(offset)")
      }
      if onlyWhitespace && !scalar.properties.isWhitespace { onlyWhitespace = false }
    }
    if onlyWhitespace { throw .invalidText("text is only whitespace") }
  }

  /// C0 controls but tab and newline, DEL and the C1 controls.
  static func isForbiddenControl(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.value {
    case 0x09, 0x0A: return false
    case 0x00...0x1F, 0x7F...0x9F: return true
    default: return false
    }
  }
}

extension Unicode.Scalar {
  /// "U+0007" style.
  var codePointName: String {
    let hex = String(value, radix: 16, uppercase: true)
    return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
  }
}
