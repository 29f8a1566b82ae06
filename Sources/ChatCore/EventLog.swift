/// The retained log in memory: every logged event (Message, MemberJoined,
/// MemberLeft) by channel, in `seq` order. History pages it and catch-up
/// replays from it under the registry's lock, so neither waits on the store.
struct EventLog {
  /// One channel's retained events.
  struct ChannelLog {
    /// Ascending by seq; `events[start...]` are retained (trimming moves
    /// `start` and compacts now and then, so an append stays O(1) amortised).
    var events: [SharedEvent] = []
    var start = 0
    var messages = 0
    /// The highest seq that retention dropped from this channel: events at
    /// or below it may be gone.
    var trimmedThrough: UInt64 = 0

    var retained: ArraySlice<SharedEvent> { events[start...] }

    /// The index in `events` of the first retained event with seq > `seq`.
    func firstIndex(after seq: UInt64) -> Int {
      var low = start
      var high = events.count
      while low < high {
        let middle = (low + high) / 2
        if events[middle].seq <= seq { low = middle + 1 } else { high = middle }
      }
      return low
    }
  }

  let epoch: String
  /// Messages kept per channel (`--history-limit`).
  let messagesPerChannel: Int
  private(set) var channels: [String: ChannelLog] = [:]
  /// The seq of the last logged event.
  private(set) var lastSeq: UInt64

  init(epoch: String, messagesPerChannel: Int, lastSeq: UInt64 = 0) {
    self.epoch = epoch
    self.messagesPerChannel = messagesPerChannel
    self.lastSeq = lastSeq
  }

  var position: LogPosition { LogPosition(epoch: epoch, seq: lastSeq) }

  /// The next seq, taken.
  mutating func nextSeq() -> UInt64 {
    lastSeq += 1
    return lastSeq
  }

  /// Appends an event whose seq came from `nextSeq()`.
  mutating func append(_ event: SharedEvent, to channel: String) {
    let isMessage: Bool
    if case .message = event.event.kind { isMessage = true } else { isMessage = false }
    channels[channel, default: ChannelLog()].events.append(event)
    if isMessage { trimIfNeeded(channel) }
  }

  /// Forgets a channel nobody can read or replay any more.
  mutating func drop(_ channel: String) {
    channels[channel] = nil
  }

  /// Restores an event read from the store (in seq order).
  mutating func restore(_ event: SharedEvent, to channel: String) {
    append(event, to: channel)
    lastSeq = max(lastSeq, event.seq)
  }

  /// After restoring: a channel that holds its full quota may have lost
  /// older events to retention before the restart.
  mutating func markRestoredChannels() {
    for key in channels.keys where channels[key]!.messages >= messagesPerChannel {
      let first = channels[key]!.retained.first!.seq
      channels[key]!.trimmedThrough = max(channels[key]!.trimmedThrough, first - 1)
    }
  }

  /// Retained events of `channel` with `lower < seq < upper`; nil if some of
  /// them may have been dropped by retention.
  func range(_ channel: String, after lower: UInt64, before upper: UInt64 = .max) -> ArraySlice<SharedEvent>? {
    guard let log = channels[channel] else { return [] }
    guard log.trimmedThrough <= lower else { return nil }
    let from = log.firstIndex(after: lower)
    let to = upper == .max ? log.events.count : log.firstIndex(after: upper - 1)
    return from < to ? log.events[from..<to] : []
  }

  /// A page of `channel`'s retained events with seq > `floor`: newest first
  /// before `before` (0: from the newest), or oldest first after `after`.
  func page(_ channel: String, floor: UInt64, before: UInt64, after: UInt64, limit: Int) -> (
    events: [SharedEvent], hasMore: Bool
  ) {
    guard let log = channels[channel] else { return ([], false) }
    let lowest = log.firstIndex(after: floor)
    if after > 0 {
      let from = max(lowest, log.firstIndex(after: after))
      let to = min(log.events.count, from + limit)
      return (Array(log.events[from..<to]), to < log.events.count)
    }
    let end = before == 0 ? log.events.count : log.firstIndex(after: before - 1)
    let from = max(lowest, end - limit)
    return (Array(log.events[from..<end].reversed()), from > lowest)
  }

  /// Keeps the newest `messagesPerChannel` messages and the member events
  /// logged since the oldest of them: past the limit, each new message drops
  /// the oldest one and the member events up to the next (O(1) amortised:
  /// the array is compacted once half of it is dropped).
  private mutating func trimIfNeeded(_ channel: String) {
    channels[channel]!.messages += 1
    guard channels[channel]!.messages > messagesPerChannel else { return }
    var log = channels.removeValue(forKey: channel)!
    var droppedMessage = false
    while log.start < log.events.count {
      let isMessage: Bool
      if case .message = log.events[log.start].event.kind { isMessage = true } else { isMessage = false }
      if isMessage && droppedMessage { break }
      droppedMessage = droppedMessage || isMessage
      log.trimmedThrough = log.events[log.start].seq
      log.start += 1
    }
    log.messages -= 1
    if log.start > log.events.count / 2 {
      log.events.removeFirst(log.start)
      log.start = 0
    }
    channels[channel] = log
  }

}

extension EventLog {
  /// The log channel of a group.
  static func groupChannel(_ groupKey: String) -> String { "#" + groupKey }

  /// The log channel of the direct messages between two users (either order).
  static func directChannel(_ a: String, _ b: String) -> String { a <= b ? "@\(a)@\(b)" : "@\(b)@\(a)" }

  /// The two user keys of a direct channel; nil for a group channel.
  static func directParties(_ channel: String) -> (String, String)? {
    guard channel.hasPrefix("@") else { return nil }
    let parts = channel.dropFirst().split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
    guard parts.count == 2 else { return nil }
    return (String(parts[0]), String(parts[1]))
  }
}
