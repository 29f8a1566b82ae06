import ChatAPI

/// Reads the last `count` logged events of a channel, a page of at most 100 at a time going
/// back (History pages newest first with `before_seq`), and gives them oldest first.
public struct HistoryPager: Sendable {
  /// The server's largest page.
  public static let pageLimit = 100

  let calls: any ChatCalls

  public init(calls: any ChatCalls) {
    self.calls = calls
  }

  /// The events, oldest first, and whether older ones exist.
  public func last(_ count: Int, of target: ChatTarget) async throws -> (events: [Chat_V1_Event], hasMore: Bool) {
    var events: [Chat_V1_Event] = []
    var beforeSeq: UInt64 = 0
    var hasMore = true
    while events.count < count, hasMore {
      let page = try await calls.history(
        of: target, beforeSeq: beforeSeq, limit: min(Self.pageLimit, count - events.count))
      // Only events older than what we have: a page is never trusted to be in order.
      let older = page.events.filter { beforeSeq == 0 || $0.seq < beforeSeq }
      events += older
      hasMore = page.hasMore_p
      guard let oldest = older.map(\.seq).min(), oldest > 0 else { break }
      beforeSeq = oldest
    }
    return (Array(events.sorted { $0.seq < $1.seq }.suffix(count)), hasMore || events.count > count)
  }
}
