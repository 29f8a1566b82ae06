/// Where each retained record of the message log lies, channel by channel
/// in seq order, and how many live bytes each segment holds (what
/// compaction goes by). Kept in memory: about 32 bytes a record.
struct LogIndex {
  struct Entry {
    var seq: UInt64
    var kind: UInt8
    var segment: UInt32
    /// The frame's offset in its segment, and its whole length.
    var offset: UInt64
    var length: UInt32
  }

  struct Channel {
    var entries: [Entry] = []
    var messages = 0

    /// Inserts in seq order; a frame with a seq already present (a copy
    /// compaction made) replaces it, and the replaced entry is returned.
    mutating func insert(_ entry: Entry) -> Entry? {
      if entries.last.map({ $0.seq < entry.seq }) ?? true {
        entries.append(entry)
      } else {
        var low = 0
        var high = entries.count
        while low < high {
          let middle = (low + high) / 2
          if entries[middle].seq < entry.seq { low = middle + 1 } else { high = middle }
        }
        if low < entries.count, entries[low].seq == entry.seq {
          defer { entries[low] = entry }
          return entries[low]
        }
        entries.insert(entry, at: low)
      }
      if entry.kind == UInt8(LogRecord.Kind.message.rawValue) { messages += 1 }
      return nil
    }

    /// The seq of the `count`th newest message, or 0 if there are fewer:
    /// retention's rule keeps what is logged from there on.
    func cut(keepingMessages count: Int) -> UInt64 {
      guard messages >= count else { return 0 }
      var seen = 0
      for entry in entries.reversed() where entry.kind == UInt8(LogRecord.Kind.message.rawValue) {
        seen += 1
        if seen == count { return entry.seq }
      }
      return 0
    }
  }

  /// A tombstone lying in a segment: compaction copies it on unless the
  /// segment is the oldest (nothing it deletes can lie further back).
  struct Tombstone {
    var channel: String
    var seq: UInt64
  }

  var channels: [String: Channel] = [:]
  var liveBytes: [UInt32: Int] = [:]
  var tombstones: [UInt32: [Tombstone]] = [:]
  /// Records retention dropped (not those of deleted channels).
  var pruned = 0

  /// Adds a record's entry; true if the channel now holds more than
  /// `pruneAbove` messages (one dictionary lookup for both).
  @discardableResult
  mutating func add(_ channel: String, _ entry: Entry, pruneAbove: Int = .max) -> Bool {
    var messages = 0
    let replaced = Self.insert(entry, into: &channels[channel, default: Channel()], messages: &messages)
    liveBytes[entry.segment, default: 0] += Int(entry.length)
    if let replaced { liveBytes[replaced.segment, default: 0] -= Int(replaced.length) }
    return messages > pruneAbove
  }

  private static func insert(_ entry: Entry, into log: inout Channel, messages: inout Int) -> Entry? {
    defer { messages = log.messages }
    return log.insert(entry)
  }

  /// Keeps the channel's newest `count` messages and what was logged since
  /// the oldest of them, once it holds more than `count + slack` messages.
  mutating func prune(_ channel: String, keeping count: Int, slack: Int) {
    guard let log = channels[channel], log.messages > count + slack else { return }
    let cut = log.cut(keepingMessages: count)
    pruned += drop(channel) { $0.seq < cut }
  }

  /// Deletes the channel's records with a seq at or below `seq` (a tombstone).
  mutating func delete(_ channel: String, upTo seq: UInt64) {
    drop(channel) { $0.seq <= seq }
  }

  /// Drops the leading entries `isGone` holds for (entries are in seq
  /// order); returns how many.
  @discardableResult
  private mutating func drop(_ channel: String, while isGone: (Entry) -> Bool) -> Int {
    guard var log = channels.removeValue(forKey: channel) else { return 0 }
    let end = log.entries.firstIndex { !isGone($0) } ?? log.entries.count
    for entry in log.entries[..<end] {
      liveBytes[entry.segment, default: 0] -= Int(entry.length)
      if entry.kind == UInt8(LogRecord.Kind.message.rawValue) { log.messages -= 1 }
    }
    log.entries.removeFirst(end)
    if !log.entries.isEmpty { channels[channel] = log }
    return end
  }

  /// Points the entry of `seq` at its copy, if it is still where compaction
  /// found it; returns false if it is gone (the copy is dead bytes).
  mutating func relocate(_ channel: String, seq: UInt64, from old: UInt32, to entry: Entry) -> Bool {
    guard let entries = channels[channel]?.entries else { return false }
    var low = 0
    var high = entries.count
    while low < high {
      let middle = (low + high) / 2
      if entries[middle].seq < seq { low = middle + 1 } else { high = middle }
    }
    guard low < entries.count, entries[low].seq == seq, entries[low].segment == old else { return false }
    liveBytes[old, default: 0] -= Int(entries[low].length)
    liveBytes[entry.segment, default: 0] += Int(entry.length)
    channels[channel]!.entries[low] = entry
    return true
  }

  /// Every live entry in `segment`.
  func entries(in segment: UInt32) -> [(channel: String, entry: Entry)] {
    var found: [(channel: String, entry: Entry)] = []
    for (channel, log) in channels {
      for entry in log.entries where entry.segment == segment { found.append((channel, entry)) }
    }
    return found
  }
}
