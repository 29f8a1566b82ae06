/// The retained log in memory: logged events (Message, MemberJoined,
/// MemberLeft) by channel, in `seq` order. Catch-up replays from it under the
/// registry's lock, so a Connect never waits on the store.
///
/// Without a store it holds every retained event, and History pages it.
/// With a store it holds each channel's newest `tailLimit` events only (the
/// most a catch-up can replay: it is all or none past `--max-replay`), and a
/// History page reaching below them is read from the store, after the
/// registry's lock is released (`Page.store`).
struct EventLog {
  /// One channel's events in memory.
  struct ChannelLog {
    /// Ascending by seq; `events[start...]` are held (trimming moves `start`
    /// and compacts now and then, so an append stays O(1) amortised).
    var events: [SharedEvent] = []
    var start = 0
    /// Messages among `events[start...]`.
    var messages = 0
    /// The highest seq that retention dropped from this channel: events at
    /// or below it may be gone.
    var trimmedThrough: UInt64 = 0
    /// The highest seq the in-memory tail let go of (with a store only):
    /// events at or below it, if retained, are in the store.
    var evictedThrough: UInt64 = 0

    var retained: ArraySlice<SharedEvent> { events[start...] }

    /// The index in `events` of the first held event with seq > `seq`.
    func firstIndex(after seq: UInt64) -> Int {
      var low = start
      var high = events.count
      while low < high {
        let middle = (low + high) / 2
        if events[middle].seq <= seq { low = middle + 1 } else { high = middle }
      }
      return low
    }

    mutating func append(_ event: SharedEvent, messagesPerChannel: Int, tailLimit: Int?) {
      events.append(event)
      if event.isMessage {
        messages += 1
        if messages > messagesPerChannel { dropOldestMessage() }
      }
      if let tailLimit {
        while events.count - start > tailLimit { evictOldest() }
      }
      if start > events.count / 2 {
        events.removeFirst(start)
        start = 0
      }
    }

    /// Retention: drops the oldest message and the member events up to the
    /// next one.
    private mutating func dropOldestMessage() {
      var droppedMessage = false
      while start < events.count {
        let event = events[start]
        if event.isMessage && droppedMessage { break }
        droppedMessage = droppedMessage || event.isMessage
        trimmedThrough = event.seq
        start += 1
      }
      messages -= 1
    }

    /// The tail: lets go of the oldest event, which the store keeps.
    private mutating func evictOldest() {
      let event = events[start]
      if event.isMessage { messages -= 1 }
      evictedThrough = event.seq
      start += 1
    }
  }

  /// What `page` found: the page itself, or the part of the channel the
  /// store must be asked for (`after < seq < before`, at most `limit` + 1
  /// events, to tell `has_more`).
  enum Page {
    case events([SharedEvent], hasMore: Bool)
    case store(after: UInt64, before: UInt64, newestFirst: Bool)
  }

  let epoch: String
  /// Messages kept per channel (`--history-limit`).
  let messagesPerChannel: Int
  /// With a store: the most events a channel holds in memory. nil: memory
  /// holds every retained event (`--store memory`).
  let tailLimit: Int?
  private(set) var channels: [String: ChannelLog] = [:]
  /// The seq of the last logged event.
  private(set) var lastSeq: UInt64

  init(epoch: String, messagesPerChannel: Int, tailLimit: Int? = nil, lastSeq: UInt64 = 0) {
    self.epoch = epoch
    self.messagesPerChannel = messagesPerChannel
    self.tailLimit = tailLimit.map { max($0, 1) }
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
    channels[channel, default: ChannelLog()].append(
      event, messagesPerChannel: messagesPerChannel, tailLimit: tailLimit)
  }

  /// Forgets a channel nobody can read or replay any more.
  mutating func drop(_ channel: String) {
    channels[channel] = nil
  }

  /// Restores an event read from the store (each channel's in seq order).
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

  /// Held events of `channel` with `lower < seq < upper`; nil if some of
  /// them may have been dropped by retention, or are no longer in memory.
  /// With a store, memory holds a channel's newest `tailLimit` events (at
  /// least `--max-replay`), so a range reaching below them without an upper
  /// bound holds more events than a catch-up may replay: nil is the answer
  /// either way.
  func range(_ channel: String, after lower: UInt64, before upper: UInt64 = .max) -> ArraySlice<SharedEvent>? {
    guard let log = channels[channel] else { return [] }
    guard log.trimmedThrough <= lower, log.evictedThrough <= lower else { return nil }
    let from = log.firstIndex(after: lower)
    let to = upper == .max ? log.events.count : log.firstIndex(after: upper - 1)
    return from < to ? log.events[from..<to] : []
  }

  /// Events of `channel` after `lower` that retention kept but memory let
  /// go of: the store has them.
  func isInStoreOnly(_ channel: String, after lower: UInt64) -> Bool {
    guard let log = channels[channel] else { return false }
    return log.trimmedThrough <= lower && log.evictedThrough > lower
  }

  /// A page of `channel`'s retained events with seq > `floor`: newest first
  /// before `before` (0: from the newest), or oldest first after `after`;
  /// `.store` when it reaches below the events held in memory, which the
  /// store may still retain.
  func page(_ channel: String, floor: UInt64, before: UInt64, after: UInt64, limit: Int) -> Page {
    guard let log = channels[channel] else { return .events([], hasMore: false) }
    let lowest = log.firstIndex(after: floor)
    // Events between `floor` and what memory holds may be in the store.
    let olderInStore = log.evictedThrough > floor
    if after > 0 {
      if olderInStore && after < log.evictedThrough {
        return .store(after: max(after, floor), before: .max, newestFirst: false)
      }
      let from = max(lowest, log.firstIndex(after: after))
      let to = min(log.events.count, from + limit)
      return .events(Array(log.events[from..<to]), hasMore: to < log.events.count)
    }
    let end = before == 0 ? log.events.count : log.firstIndex(after: before - 1)
    let from = max(lowest, end - limit)
    // Whether anything is older than the page is the store's to say.
    if from == lowest && olderInStore {
      return .store(after: floor, before: before == 0 ? .max : before, newestFirst: true)
    }
    return .events(Array(log.events[from..<end].reversed()), hasMore: from > lowest)
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
