import ChatAPI

/// Where a reconnect resumes: the log's epoch from the last Welcome and the `seq` of the last
/// logged event printed. Only what was printed counts, so a stream that breaks in the middle of
/// a catch-up resumes from what the user saw.
public struct ResumePosition: Equatable, Sendable {
  public private(set) var epoch: String?
  public private(set) var seq: UInt64?

  public init() {}

  /// A new stream began. Another epoch (a new store) makes the old `seq` meaningless. With
  /// nothing to replay, the stream continues from `position`, so that is where a reconnect
  /// resumes until an event is printed.
  public mutating func welcomed(_ welcome: Chat_V1_Welcome) {
    guard welcome.hasPosition, !welcome.position.epoch.isEmpty else { return }
    if welcome.position.epoch != epoch {
      epoch = welcome.position.epoch
      seq = nil
    }
    if welcome.replayed == 0 {
      seq = max(seq ?? 0, welcome.position.seq)
    }
  }

  /// An event was printed; logged ones (`seq` > 0) move the position.
  public mutating func printed(_ event: Chat_V1_Event) {
    guard event.seq > 0, epoch != nil else { return }
    seq = max(seq ?? 0, event.seq)
  }

  /// What `ConnectRequest.resume` carries; nil before any Welcome said where the log is.
  public var resume: Chat_V1_StreamPosition? {
    guard let epoch, let seq else { return nil }
    return .with {
      $0.epoch = epoch
      $0.seq = seq
    }
  }

  /// What to say once a reconnect's Welcome arrives.
  public static func reconnectNote(for welcome: Chat_V1_Welcome) -> String {
    if welcome.recovered {
      let count = welcome.replayed
      return count == 0
        ? "reconnected; nothing was missed"
        : "reconnected; \(count) missed event\(count == 1 ? "" : "s") follow\(count == 1 ? "s" : "")"
    }
    return "reconnected; some events may be missing (use /history)"
  }
}
