/// HTTP/2 error codes (RFC 9113 section 7).
enum HTTP2Code {
  static let noError: UInt32 = 0
  static let protocolError: UInt32 = 1
  static let internalError: UInt32 = 2
  static let refusedStream: UInt32 = 7
  static let cancel: UInt32 = 8
  static let enhanceYourCalm: UInt32 = 11

  static func name(_ code: UInt32) -> String {
    switch code {
    case 0: "NO_ERROR"
    case 1: "PROTOCOL_ERROR"
    case 2: "INTERNAL_ERROR"
    case 3: "FLOW_CONTROL_ERROR"
    case 5: "STREAM_CLOSED"
    case 6: "FRAME_SIZE_ERROR"
    case 7: "REFUSED_STREAM"
    case 8: "CANCEL"
    case 11: "ENHANCE_YOUR_CALM"
    default: "\(code)"
    }
  }
}
