extension String {
  /// The string with every character that could drive a terminal shown as an
  /// escape instead: control characters (newline `\n`, tab `\t`, carriage
  /// return `\r`, ESC and the rest as `\u{1B}`), Unicode line and paragraph
  /// separators, and the bidirectional formatting characters that reorder
  /// what is displayed. Text from other people goes through this before it
  /// is printed, so no message can move the cursor, recolour the terminal or
  /// pass itself off as a line of its own.
  public var terminalSafe: String {
    guard unicodeScalars.contains(where: Self.needsEscape) else { return self }
    var safe = ""
    for scalar in unicodeScalars {
      switch scalar {
      case "\n": safe += "\\n"
      case "\t": safe += "\\t"
      case "\r": safe += "\\r"
      case _ where Self.needsEscape(scalar): safe += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
      default: safe.unicodeScalars.append(scalar)
      }
    }
    return safe
  }

  private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
    switch scalar.properties.generalCategory {
    case .control, .lineSeparator, .paragraphSeparator: return true
    default: return scalar.properties.isBidiControl
    }
  }
}
