import Foundation
import Logging
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The log of Message / MemberJoined / MemberLeft events: append-only
/// segment files (`DIR/log/NNNNNNNNNN.log`, see `LogFrame`) and an index of
/// them in memory.
///
/// Why not rows in SQLite: a row and its index entries cost 40–80 µs of
/// writer CPU per message here (B-tree inserts, the WAL's page copies, the
/// writer thread's hand-offs), against a goal of 3. An append writes its
/// frames straight into a shared mapping of the segment
/// (`LogSegment.withMappedBytes`).
///
/// Writing without a thread: the registry queues records under its lock
/// (`enqueue`, an array append), and the caller, once it released that
/// lock, calls `flush()`, which writes everything queued into the segment
/// in one go on the caller's own thread (waiting a few µs if another
/// caller is writing; see `flush` for `.machine` durability). So a
/// SendMessage is answered with no thread hop and no sleep, and one write
/// carries whatever was queued meanwhile. A write is in the kernel's page
/// cache when it returns, which is what `kill -9` leaves intact
/// (`syncEachWrite` adds an `fdatasync` per write for power loss).
final class MessageLog: Sendable {
  struct Configuration: Sendable {
    var directory: String
    var epoch: String
    var syncEachWrite: Bool
    var retention: Retention
    /// A segment is closed once a write would take it past this size.
    var segmentBytes: UInt64
    /// All segments together may not grow past this (a size limit, and how
    /// tests make a disk "full"); nil: no limit.
    var maxBytes: UInt64?
    var retryInterval: Duration
  }

  enum Item: Sendable {
    /// One submission's `.log` and `.deleteChannel` operations, as the
    /// registry queued them: kept as its array (no per-operation copy under
    /// the queue's lock).
    case operations([StoreOperation])
    /// Deletes the channel's records up to `seq` (compaction's copy of a tombstone).
    case tombstone(channel: String, seq: UInt64)
    /// A live frame compaction copies out of segment `from`.
    case relocated(channel: String, seq: UInt64, kind: UInt8, frame: [UInt8], from: UInt32)
  }

  /// What a written frame changes in the index.
  enum Indexing {
    case add(channel: String, LogIndex.Entry)
    /// A frame compaction copied out of segment `from`.
    case relocate(channel: String, LogIndex.Entry, from: UInt32)
    /// A tombstone written to segment `in`.
    case tombstone(LogIndex.Tombstone, in: UInt32)
  }

  /// The writer's buffers, kept between writes so that a steady stream of
  /// writes allocates nothing: whoever holds `Queue.flushing` holds them.
  struct Scratch {
    /// Empty, with capacity: becomes the queue's next `pending`.
    var items: [Item] = []
    /// The items' log payloads, in order, produced before the files' lock
    /// is taken (a deferred payload is encoded then).
    var payloads: [[UInt8]] = []

    /// Empties the buffers, keeping their capacity unless a burst made them large.
    mutating func clear() {
      let keep = payloads.capacity <= 1 << 14
      items.removeAll(keepingCapacity: keep)
      payloads.removeAll(keepingCapacity: keep)
    }
  }

  /// A batch to write, with the buffers to write it with.
  struct Batch {
    var items: [Item]
    let acknowledgement: Acknowledgement
    var scratch: Scratch

    /// The buffers to hand back once written, the items' array among them,
    /// emptied here (not under the queue's lock).
    mutating func takeBuffers() -> Scratch {
      var buffers = scratch
      scratch = Scratch()
      buffers.items = items
      items = []
      buffers.clear()
      return buffers
    }
  }

  private struct Queue {
    var pending: [Item] = []
    var pendingAcknowledgement: Acknowledgement?
    /// The batch being written, completed before the next one is taken.
    var inFlight: Acknowledgement?
    /// Someone is writing: it takes what is queued before it stops.
    var flushing = false
    /// The writer's buffers while nobody writes.
    var scratch: Scratch? = Scratch()
    var closed = false
    /// Set by a failed write: submissions are refused until `retryAt`,
    /// then one batch is let through to try the disk again.
    var failure: (error: StoreError, retryAt: ContinuousClock.Instant)? {
      didSet { failing = failure != nil }
    }
    /// `failure != nil`, kept apart: testing the optional tuple itself goes
    /// through its type's metadata at run time, on every submission.
    private(set) var failing = false
    let retryInterval: Duration
    /// Every caller writes its own submission (see `flush`): each must be told to.
    let everyCallerWrites: Bool

    enum Queued {
      case queued(Acknowledgement, needsFlush: Bool)
      case refused(StoreError)
    }

    /// Queues one submission's operations (the registry's common case:
    /// nothing but an array append).
    mutating func enqueue(_ operations: [StoreOperation]) -> Queued {
      if let refusal = admit(bypassing: false) { return refusal }
      let acknowledgement = pendingAcknowledgement ?? Acknowledgement()
      pendingAcknowledgement = acknowledgement
      pending.append(.operations(operations))
      return .queued(acknowledgement, needsFlush: everyCallerWrites || !flushing)
    }

    mutating func enqueue(_ items: [Item], bypassing: Bool = false) -> Queued {
      // Nothing to write: done once what was queued before is.
      if items.isEmpty {
        if closed && !bypassing { return .refused(.closed) }
        return .queued(
          barrier ?? .committed, needsFlush: pendingAcknowledgement != nil && (everyCallerWrites || !flushing))
      }
      if let refusal = admit(bypassing: bypassing) { return refusal }
      let acknowledgement = pendingAcknowledgement ?? Acknowledgement()
      pendingAcknowledgement = acknowledgement
      pending.append(contentsOf: items)
      return .queued(acknowledgement, needsFlush: everyCallerWrites || !flushing)
    }

    /// nil if a submission may be queued; otherwise why not.
    private mutating func admit(bypassing: Bool) -> Queued? {
      if closed && !bypassing { return .refused(.closed) }
      if failing, !bypassing, let current = failure {
        let now = ContinuousClock.now
        guard now >= current.retryAt else { return .refused(current.error) }
        failure = (current.error, now + retryInterval)
      }
      return nil
    }

    /// The next batch to write: for a caller that is not writing yet, only
    /// if nobody is; for the writer, until nothing is queued. The writer
    /// hands back the buffers of its last batch, emptied.
    mutating func take(writing: Bool, returning buffers: inout Scratch?) -> Batch? {
      if flushing && !writing { return nil }
      if let returned = buffers.take() { scratch = returned }
      inFlight = nil
      guard !pending.isEmpty, let acknowledgement = pendingAcknowledgement else {
        flushing = false
        return nil
      }
      flushing = true
      inFlight = acknowledgement
      var buffers = scratch.take() ?? Scratch()
      let items = pending
      pending = buffers.items
      buffers.items = []
      pendingAcknowledgement = nil
      return Batch(items: items, acknowledgement: acknowledgement, scratch: buffers)
    }

    /// Stops writing (a writer handing over); true if something is queued.
    mutating func release(returning buffers: Scratch) -> Bool {
      scratch = buffers
      flushing = false
      inFlight = nil
      return !pending.isEmpty
    }

    /// Records a failed write; returns the acknowledgements of what was
    /// queued meanwhile, to fail without trying it.
    mutating func failed(_ error: StoreError) -> [Acknowledgement] {
      failure = (error, ContinuousClock.now + retryInterval)
      guard let acknowledgement = pendingAcknowledgement else { return [] }
      pending = []
      pendingAcknowledgement = nil
      return [acknowledgement]
    }

    mutating func succeeded() -> Bool {
      guard failing else { return false }
      failure = nil
      return true
    }

    /// What a reader waits for to see everything queued before it.
    var barrier: Acknowledgement? { pendingAcknowledgement ?? inFlight }
  }

  /// The segments, the one being appended to, the index, and their sizes:
  /// one lock for a write's store and indexing (only whoever holds
  /// `Queue.flushing` appends; readers and compaction look things up).
  private struct Files {
    /// The segment being appended to, and its size.
    var current: LogSegment
    var currentSize: UInt64
    var segments: [UInt32: LogSegment]
    /// Closed segments' sizes (the current one's is `currentSize`).
    var sizes: [UInt32: UInt64]
    /// Where every record is, but those in `unindexed`.
    private var indexed: LogIndex
    /// Records written since the last catch-up, in write order: indexed
    /// together once `MessageLog.indexBatch` wait, or before anything reads
    /// the index. Indexing one record per write touched its channel's
    /// entries, cold (pages and lines) when messages come a few hundred µs
    /// apart: about a third of a write's time. A batch of thousands indexes
    /// dozens of records per channel while its lines are warm.
    private var unindexed: [(channel: String, entry: LogIndex.Entry)] = []
    private let retention: Retention
    var totalBytes: UInt64
    /// Set while a compaction runs, completed when it ends: what `close` waits for.
    var compactionDone: Acknowledgement?
    /// No compaction starts once the log is closing.
    var closing = false
    var compactions = 0

    init(
      current: LogSegment, currentSize: UInt64, segments: [UInt32: LogSegment], sizes: [UInt32: UInt64],
      index: LogIndex, totalBytes: UInt64, retention: Retention
    ) {
      self.current = current
      self.currentSize = currentSize
      self.segments = segments
      self.sizes = sizes
      self.indexed = index
      self.totalBytes = totalBytes
      self.retention = retention
    }

    /// The whole index: whatever waits in `unindexed` is added first.
    var index: LogIndex {
      mutating get {
        catchUp()
        return indexed
      }
      _modify {
        catchUp()
        yield &indexed
      }
    }

    /// Adds a written record's entry: to the index once `batch` wait.
    mutating func add(_ channel: String, _ entry: LogIndex.Entry, batch: Int) {
      unindexed.append((channel, entry))
      if unindexed.count >= batch { catchUp() }
    }

    /// Makes a written frame's change to the index (an addition waits for `batch` more).
    mutating func apply(_ change: Indexing, batch: Int) {
      switch change {
      case .add(let channel, let entry):
        add(channel, entry, batch: batch)
      case .relocate(let channel, let entry, let from):
        _ = index.relocate(channel, seq: entry.seq, from: from, to: entry)
      case .tombstone(let tombstone, let segment):
        index.delete(tombstone.channel, upTo: tombstone.seq)
        index.tombstones[segment, default: []].append(tombstone)
      }
    }

    private mutating func catchUp() {
      guard !unindexed.isEmpty else { return }
      let pruneAbove = retention.messagesPerChannel + retention.slack
      for (channel, entry) in unindexed where indexed.add(channel, entry, pruneAbove: pruneAbove) {
        indexed.prune(channel, keeping: retention.messagesPerChannel, slack: retention.slack)
      }
      unindexed.removeAll(keepingCapacity: true)
    }

    func size(of number: UInt32) -> UInt64 {
      number == current.number ? currentSize : sizes[number, default: 0]
    }

    /// The oldest closed segment that is at least half dead, marked as being
    /// compacted; nil if one is already, or none qualifies.
    mutating func startCompaction() -> UInt32? {
      guard compactionDone == nil, !closing else { return nil }
      let header = Int(LogFrame.segmentHeaderSize)
      let found = segments.keys.sorted().first { number in
        number != current.number && index.liveBytes[number, default: 0] * 2 <= Int(size(of: number)) - header
      }
      if found != nil { compactionDone = Acknowledgement() }
      return found
    }
  }

  /// How many written records wait before they are indexed together (see `Files.unindexed`).
  static let indexBatch = 4096

  let configuration: Configuration
  private let logger: Logger
  private let queue: Mutex<Queue>
  /// Held for a whole write by the caller writing (`.process` durability):
  /// the others wait on it for microseconds instead of sleeping. A lock
  /// around I/O, not around state: nothing else is taken while waiting for it.
  private let writing = Mutex(())
  private let files: Mutex<Files>
  /// The largest seq written (tombstones delete up to it): written only by
  /// whoever holds `Queue.flushing`.
  private let lastSeq: Atomic<UInt64>
  /// A write failed and none succeeded since (spares the success path a
  /// lock): set and cleared by whoever holds `Queue.flushing`.
  private let failing = Atomic<Bool>(false)
  /// `configuration.maxBytes`, changeable while running (tests); 0: none.
  private let limit: Atomic<UInt64>
  private let writes = Atomic<Int>(0)
  private let recordsWritten = Atomic<Int>(0)
  private let failedWrites = Atomic<Int>(0)

  private init(configuration: Configuration, logger: Logger, files: Files, lastSeq: UInt64) {
    self.configuration = configuration
    self.logger = logger
    self.queue = Mutex(
      Queue(retryInterval: configuration.retryInterval, everyCallerWrites: !configuration.syncEachWrite))
    self.files = Mutex(files)
    self.lastSeq = Atomic(lastSeq)
    self.limit = Atomic(configuration.maxBytes ?? 0)
  }

  /// Changes the size limit (tests: a disk that fills up and frees again).
  func setLimit(_ bytes: UInt64?) {
    limit.store(bytes ?? 0, ordering: .relaxed)
  }

  // MARK: Writing

  /// Queues one submission's `.log` and `.deleteChannel` operations; see the type's comment.
  func enqueue(_ operations: [StoreOperation]) -> (acknowledgement: Acknowledgement, needsFlush: Bool) {
    switch queue.withLock({ $0.enqueue(operations) }) {
    case .queued(let acknowledgement, let needsFlush): (acknowledgement, needsFlush)
    case .refused(let error): (.failed(error), false)
    }
  }

  /// What an empty submission waits for: everything queued before it.
  func enqueueBarrier() -> (acknowledgement: Acknowledgement, needsFlush: Bool) {
    switch queue.withLock({ $0.enqueue([]) }) {
    case .queued(let acknowledgement, let needsFlush): (acknowledgement, needsFlush)
    case .refused(let error): (.failed(error), false)
    }
  }

  /// Ends a failure's retry interval now (tests).
  func retryNow() {
    queue.withLock { queue in
      if let failure = queue.failure { queue.failure = (failure.error, .now) }
    }
  }

  /// Writes what is queued on this thread.
  ///
  /// Without a sync per write (`.process` durability), a write is a copy of
  /// a few µs, so a caller that finds another writing waits for it on
  /// `writing`'s lock, then writes what is left (its own submission, unless
  /// the other took it): when `flush` returns, the caller's submission is
  /// written, and its SendMessage never sleeps on the acknowledgement. (A
  /// sleeping caller wakes behind every runnable task: measured in process
  /// when flooding, that put the p99 from send to OK at 15 ms.)
  ///
  /// With an `fdatasync` per write (`.machine`), a write takes milliseconds,
  /// so no thread waits for another's: a caller that finds someone writing
  /// leaves its submission to it and sleeps on its acknowledgement (flat
  /// combining: one sync carries every submission queued meanwhile), and a
  /// writer hands what is still queued after a few rounds to a thread of
  /// its own.
  func flush() {
    if !configuration.syncEachWrite {
      writing.withLock { _ in
        var none: Scratch?
        guard var batch = queue.withLock({ $0.take(writing: true, returning: &none) }) else { return }
        write(batch.items, batch.acknowledgement, &batch.scratch)
        let emptied = batch.takeBuffers()
        _ = queue.withLock { $0.release(returning: emptied) }
      }
      return
    }
    var writing = false
    var rounds = 0
    var buffers: Scratch?
    while var batch = queue.withLock({ $0.take(writing: writing, returning: &buffers) }) {
      writing = true
      write(batch.items, batch.acknowledgement, &batch.scratch)
      let emptied = batch.takeBuffers()
      rounds += 1
      // A caller is not kept writing for others forever: after a few
      // rounds the rest is handed to a thread of its own.
      if rounds == 8 {
        if queue.withLock({ $0.release(returning: emptied) }) { DispatchQueue.global().async { self.flush() } }
        return
      }
      buffers = emptied
    }
  }

  /// Waits until everything queued before the call is written (or failed).
  func barrier() async throws(StoreError) {
    let (closed, waitFor) = queue.withLock { ($0.closed && !$0.flushing && $0.pending.isEmpty, $0.barrier) }
    if closed { throw .closed }
    guard let acknowledgement = waitFor else { return }
    flush()
    do {
      try await acknowledgement.waitUntimed()
    } catch StoreError.closed {
      throw .closed
    } catch is StoreError {
      // Failed: not on the disk, so the read goes on without it.
    } catch {
      throw .unavailable("the read was cancelled")
    }
  }

  private func write(_ items: [Item], _ acknowledgement: Acknowledgement, _ scratch: inout Scratch) {
    do {
      let (rotated, records) = try append(items, &scratch)
      writes.add(1, ordering: .relaxed)
      recordsWritten.add(records, ordering: .relaxed)
      if failing.load(ordering: .relaxed) {
        failing.store(false, ordering: .relaxed)
        if queue.withLock({ $0.succeeded() }) { logger.notice("message log writable again") }
      }
      acknowledgement.complete(nil)
      if rotated { scheduleCompaction() }
    } catch {
      failing.store(true, ordering: .relaxed)
      let refused = queue.withLock { $0.failed(error) }
      failedWrites.add(1, ordering: .relaxed)
      logger.error(
        "message log write failed: failing its callers until a write succeeds",
        metadata: ["error": "\(error.reason)", "records": "\(items.count)", "refused": "\(refused.count)"])
      acknowledgement.complete(error)
      for refused in refused { refused.complete(error) }
    }
  }

  /// Produces the items' payloads (encoding deferred ones) outside every
  /// lock, then, under the files' lock, writes their frames straight into
  /// the current segment's mapping and indexes them. Returns whether a
  /// segment was closed, and how many frames were written.
  private func append(_ items: [Item], _ scratch: inout Scratch) throws(StoreError) -> (rotated: Bool, frames: Int) {
    var bytes = 0
    var frames = 0
    Self.forEachFrame(items) { frame in
      switch frame {
      case .record(let record):
        let payload = record.payloadBytes
        bytes += LogFrame.frameLength(channelBytes: record.channel.utf8.count, payloadBytes: payload.count)
        scratch.payloads.append(payload)
      case .tombstone(let channel, _):
        bytes += LogFrame.frameLength(channelBytes: channel.utf8.count, payloadBytes: 0)
      case .relocated(_, _, _, let frame, _):
        bytes += frame.count
      }
      frames += 1
    }
    let count = UInt64(bytes)
    let limit = self.limit.load(ordering: .relaxed)
    var newest = lastSeq.load(ordering: .relaxed)
    let (rotated, written) = try files.withLock { files throws(StoreError) -> (Bool, LogSegment) in
      var rotated = false
      if files.currentSize > UInt64(LogFrame.segmentHeaderSize) && files.currentSize + count > configuration.segmentBytes {
        try rotate(&files)
        rotated = true
      }
      if limit > 0, files.totalBytes + count > limit {
        throw .unavailable("the message log is full: it may not grow past \(limit) bytes")
      }
      // Into the mapping: in the page cache on return. (A write cut short
      // leaves bytes past `currentSize` that the next write overwrites, or
      // that a restart cuts off as a torn end.)
      let segment = files.current
      let base = files.currentSize
      let inPlace: Void? = try segment.withMappedBytes(at: base, count: bytes) { start in
        Self.lay(items, scratch.payloads, at: start, segment: segment.number, base: base, newest: &newest) {
          files.apply($0, batch: Self.indexBatch)
        }
      }
      if inPlace == nil {
        // Across two windows: laid out apart, indexed once copied.
        // (Rare: once per MiB written, so nothing is kept for it.)
        var laidOut = [UInt8](repeating: 0, count: bytes)
        var indexing: [Indexing] = []
        laidOut.withUnsafeMutableBytes { frames in
          Self.lay(items, scratch.payloads, at: frames.baseAddress!, segment: segment.number, base: base, newest: &newest) {
            indexing.append($0)
          }
        }
        try segment.store(laidOut, at: base)
        for change in indexing { files.apply(change, batch: Self.indexBatch) }
      }
      files.currentSize += count
      files.totalBytes += count
      return (rotated, segment)
    }
    lastSeq.store(newest, ordering: .relaxed)
    // Outside the lock: readers and compaction need not wait for the disk.
    if configuration.syncEachWrite { try written.sync() }
    return (rotated, frames)
  }

  /// Writes the items' frames back to back from `start` (the file's offset
  /// `base` in segment `segment`), telling `index` what each changes.
  private static func lay(
    _ items: [Item], _ payloads: [[UInt8]], at start: UnsafeMutableRawPointer, segment: UInt32, base: UInt64,
    newest: inout UInt64, index: (Indexing) -> Void
  ) {
    var offset = 0
    var payloadIndex = 0
    func entry(_ seq: UInt64, _ kind: UInt8, _ length: Int) -> LogIndex.Entry {
      LogIndex.Entry(seq: seq, kind: kind, segment: segment, offset: base + UInt64(offset), length: UInt32(length))
    }
    func tombstone(_ channel: String, _ seq: UInt64) {
      var channel = channel
      offset += channel.withUTF8 { bytes in
        LogFrame.write(
          seq: seq, kind: LogFrame.tombstoneKind, time: 0, channel: UnsafeRawBufferPointer(bytes),
          payload: UnsafeRawBufferPointer(start: nil, count: 0), at: start + offset)
      }
      index(.tombstone(LogIndex.Tombstone(channel: channel, seq: seq), in: segment))
    }
    forEachFrame(items) { frame in
      switch frame {
      case .record(let record):
        let kind = UInt8(record.kind.rawValue)
        var channel = record.channel
        let length = channel.withUTF8 { channelBytes in
          payloads[payloadIndex].withUnsafeBytes { payloadBytes in
            LogFrame.write(
              seq: record.seq, kind: kind, time: microseconds(record.time),
              channel: UnsafeRawBufferPointer(channelBytes), payload: payloadBytes, at: start + offset)
          }
        }
        payloadIndex += 1
        index(.add(channel: record.channel, entry(record.seq, kind, length)))
        offset += length
        newest = max(newest, record.seq)
      case .tombstone(let channel, let seq):
        // A channel's deletion: up to the newest seq written, everything it logged so far.
        tombstone(channel, seq ?? newest)
      case .relocated(let channel, let seq, let kind, let frame, let from):
        frame.withUnsafeBytes { (start + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        index(.relocate(channel: channel, entry(seq, kind, frame.count), from: from))
        offset += frame.count
      }
    }
  }

  /// One frame an item stands for.
  private enum FrameSource {
    case record(LogRecord)
    /// nil: up to the newest seq written before it (a channel's deletion).
    case tombstone(channel: String, seq: UInt64?)
    case relocated(channel: String, seq: UInt64, kind: UInt8, frame: [UInt8], from: UInt32)
  }

  /// The items' frames, in the order they are written.
  private static func forEachFrame(_ items: [Item], _ body: (FrameSource) -> Void) {
    for item in items {
      switch item {
      case .operations(let operations):
        for operation in operations {
          switch operation {
          case .log(let record): body(.record(record))
          case .deleteChannel(let channel): body(.tombstone(channel: channel, seq: nil))
          default: assertionFailure("an operation for SQLite reached the message log")
          }
        }
      case .tombstone(let channel, let seq):
        body(.tombstone(channel: channel, seq: seq))
      case .relocated(let channel, let seq, let kind, let frame, let from):
        body(.relocated(channel: channel, seq: seq, kind: kind, frame: frame, from: from))
      }
    }
  }

  /// Closes the current segment and starts the next. The closed one is
  /// synced once, in the background (so the kernel holds little unsynced
  /// past the current segment): up to 64 MiB of dirty pages can keep the
  /// disk busy for a second, and under this lock every writer and reader
  /// would wait for it.
  private func rotate(_ files: inout Files) throws(StoreError) {
    let next = try LogSegment.create(
      directory: configuration.directory, number: files.current.number + 1, epoch: configuration.epoch,
      allocate: configuration.segmentBytes)
    syncDirectory(configuration.directory)
    let closed = files.current
    closed.finish(size: files.currentSize)
    if !configuration.syncEachWrite {
      let logger = logger
      DispatchQueue.global().async {
        do throws(StoreError) {
          try closed.sync()
        } catch {
          logger.error(
            "message log: syncing a closed segment failed", metadata: ["segment": "\(closed.path)", "error": "\(error.reason)"])
        }
      }
    }
    let header = UInt64(LogFrame.segmentHeaderSize)
    files.sizes[files.current.number] = files.currentSize
    files.segments[next.number] = next
    files.totalBytes += header
    files.current = next
    files.currentSize = header
  }

  // MARK: Compaction

  /// Starts compacting a closed segment that is at least half dead, if none
  /// is being compacted.
  private func scheduleCompaction() {
    guard let candidate = files.withLock({ $0.startCompaction() }) else { return }
    compactInBackground(candidate)
  }

  private func compactInBackground(_ number: UInt32) {
    Task.detached { await self.compact(number) }
  }

  /// Waits until no compaction runs and none is due (tests: compaction
  /// runs in the background, and each one syncs, which a busy disk makes slow).
  func compactionsSettled(within timeout: Duration) async throws {
    let deadline = ContinuousClock.now + timeout
    while let running = files.withLock({ $0.compactionDone }) {
      try await running.wait(timeout: deadline - .now)
    }
  }

  /// Copies the segment's live frames (and, unless it is the oldest, its
  /// tombstones) to the current segment, then deletes it.
  private func compact(_ number: UInt32) async {
    // The next candidate is looked for only after a segment went: one that
    // could not be emptied is not retried until the next rotation.
    var removed = false
    defer {
      // The next one starts under the same lock as this one ends, so that
      // `compactionDone` is nil only once the chain has stopped.
      let (done, next) = files.withLock { files -> (Acknowledgement?, UInt32?) in
        let done = files.compactionDone
        files.compactionDone = nil
        return (done, removed ? files.startCompaction() : nil)
      }
      done?.complete(nil)
      if let next { compactInBackground(next) }
    }
    let (segment, live, tombstones, oldest) = files.withLock { files in
      (
        files.segments[number], files.index.entries(in: number), files.index.tombstones[number] ?? [],
        files.segments.keys.min() == number
      )
    }
    guard let segment else { return }
    var items: [Item] = []
    do {
      for (channel, entry) in live {
        let frame = try segment.read(at: entry.offset, length: Int(entry.length))
        items.append(.relocated(channel: channel, seq: entry.seq, kind: entry.kind, frame: frame, from: number))
      }
    } catch {
      logger.error("message log compaction failed", metadata: ["segment": "\(segment.path)", "error": "\(error.reason)"])
      return
    }
    if !oldest {
      items += tombstones.map { Item.tombstone(channel: $0.channel, seq: $0.seq) }
    }
    if !items.isEmpty {
      guard case .queued(let acknowledgement, _) = queue.withLock({ $0.enqueue(items, bypassing: true) }) else { return }
      flush()
      do {
        try await acknowledgement.waitUntimed()
        // The copies are synced before the originals go.
        try files.withLock { $0.current }.sync()
      } catch {
        logger.error("message log compaction failed", metadata: ["segment": "\(segment.path)", "error": "\(error)"])
        return
      }
    }
    removed = files.withLock { files -> Bool in
      // Everything live was copied (or died meanwhile); a segment still
      // holding live bytes is kept.
      guard files.index.liveBytes[number, default: 0] <= 0 else { return false }
      files.segments[number] = nil
      files.totalBytes -= files.sizes.removeValue(forKey: number) ?? 0
      files.index.liveBytes[number] = nil
      files.index.tombstones[number] = nil
      files.compactions += 1
      return true
    }
    if removed {
      unlink(segment.path)
      logger.debug("message log segment compacted", metadata: ["segment": "\(segment.path)", "copied": "\(live.count)"])
    }
  }

  // MARK: Reading

  /// Every retained record, by seq (tests, and stores that load everything).
  func load() throws(StoreError) -> [LogRecord] {
    let located = files.withLock { files in
      files.index.channels.flatMap { channel, log in
        log.entries.map { (channel, $0, files.segments[$0.segment]) }
      }
    }
    return try read(located).sorted { $0.seq < $1.seq }
  }

  /// Each channel's newest `count` records, and one more when it has older
  /// ones; grouped by channel (in key order), each in seq order.
  func loadTail(eventsPerChannel count: Int) throws(StoreError) -> [LogRecord] {
    let located = files.withLock { files in
      files.index.channels.keys.sorted().flatMap { channel in
        files.index.channels[channel]!.entries.suffix(count + 1).map { (channel, $0, files.segments[$0.segment]) }
      }
    }
    return try read(located)
  }

  /// History's pages older than the registry holds: see `Store.readLog`.
  func readLog(
    _ channel: String, after: UInt64, before: UInt64, newestFirst: Bool, limit: Int, messagesPerChannel: Int
  ) async throws(StoreError) -> LogPage {
    try await barrier()
    let (located, cut) = files.withLock { files -> ([(String, LogIndex.Entry, LogSegment?)], UInt64) in
      guard let log = files.index.channels[channel] else { return ([], 0) }
      let cut = log.cut(keepingMessages: messagesPerChannel)
      let lower = max(after, cut == 0 ? 0 : cut - 1)
      let inRange = log.entries.lazy.filter { $0.seq > lower && $0.seq < before }
      let chosen = newestFirst ? Array(inRange.reversed().prefix(limit)) : Array(inRange.prefix(limit))
      return (chosen.map { (channel, $0, files.segments[$0.segment]) }, cut)
    }
    return LogPage(records: try read(located), retainedAfter: cut == 0 ? 0 : cut - 1)
  }

  /// Reads the located frames, outside every lock.
  private func read(_ located: [(String, LogIndex.Entry, LogSegment?)]) throws(StoreError) -> [LogRecord] {
    var records: [LogRecord] = []
    records.reserveCapacity(located.count)
    for (channel, entry, segment) in located {
      guard let segment else { throw .unavailable("the message log lost a segment it indexes") }
      let frame = try segment.read(at: entry.offset, length: Int(entry.length))
      let record = frame.withUnsafeBytes { bytes -> LogRecord? in
        guard case .frame(let parsed) = LogFrame.parse(bytes, at: 0) else { return nil }
        return LogFrame.record(parsed, channel: channel, in: bytes)
      }
      guard let record else { throw .unavailable("\(segment.path) is damaged at offset \(entry.offset)") }
      records.append(record)
    }
    return records
  }

  // MARK: Closing and figures

  /// Lets a running compaction finish (none starts after), writes what is
  /// queued, refuses what comes later, syncs.
  func close() async {
    let compaction = files.withLock { files -> Acknowledgement? in
      files.closing = true
      return files.compactionDone
    }
    try? await compaction?.waitUntimed()
    queue.withLock { $0.closed = true }
    while let pending = queue.withLock({ $0.barrier }) {
      flush()
      try? await pending.waitUntimed()
    }
    // Synced, and trimmed to what it holds: a stopped server's segments
    // are exactly their records (what a backup copies).
    files.withLock { files in
      try? files.current.sync()
      files.current.finish(size: files.currentSize)
    }
  }

  struct Statistics: Sendable, Equatable {
    var writes: Int
    var records: Int
    var failedWrites: Int
    var pruned: Int
    var segments: Int
    var bytes: UInt64
    var compactions: Int
  }

  var statistics: Statistics {
    files.withLock { files in
      Statistics(
        writes: writes.load(ordering: .relaxed), records: recordsWritten.load(ordering: .relaxed),
        failedWrites: failedWrites.load(ordering: .relaxed), pruned: files.index.pruned,
        segments: files.segments.count, bytes: files.totalBytes, compactions: files.compactions)
    }
  }

}

// MARK: Opening

extension MessageLog {
  /// Opens the log in `configuration.directory` (creating it), reading every
  /// segment to rebuild the index. A torn frame at the end of the last
  /// segment (a write cut short by a crash) is cut off; damage anywhere
  /// else, or a segment of another store, refuses to start.
  static func open(_ configuration: Configuration, logger: Logger) throws(StoreError) -> MessageLog {
    let directory = configuration.directory
    try makeDirectory(directory)
    var numbers: [UInt32]
    do {
      numbers = try FileManager.default.contentsOfDirectory(atPath: directory)
        .compactMap(LogSegment.number(ofFile:)).sorted()
    } catch {
      throw .dataDirectory(path: directory, reason: "cannot list it: \(error.localizedDescription)")
    }
    if numbers.isEmpty {
      _ = try LogSegment.create(directory: directory, number: 1, epoch: configuration.epoch)
      syncDirectory(directory)
      numbers = [1]
    }
    var segments: [UInt32: LogSegment] = [:]
    var sizes: [UInt32: UInt64] = [:]
    var index = LogIndex()
    var totalBytes: UInt64 = 0
    var deletions: [String: UInt64] = [:]
    var lastSeq: UInt64 = 0
    for number in numbers {
      let segment = try LogSegment.open(directory: directory, number: number)
      let size = try scan(
        segment, last: number == numbers.last, configuration: configuration, logger: logger,
        into: &index, deletions: &deletions, lastSeq: &lastSeq)
      segments[number] = segment
      sizes[number] = size
      totalBytes += size
    }
    for (channel, seq) in deletions { index.delete(channel, upTo: seq) }
    let keep = configuration.retention.messagesPerChannel
    for channel in Array(index.channels.keys) { index.prune(channel, keeping: keep, slack: 0) }
    index.pruned = 0
    let current = segments[numbers.last!]!
    let size = sizes.removeValue(forKey: current.number)!
    try current.allocate(max(configuration.segmentBytes, size))
    let files = Files(
      current: current, currentSize: size, segments: segments, sizes: sizes, index: index, totalBytes: totalBytes,
      retention: configuration.retention)
    let log = MessageLog(configuration: configuration, logger: logger, files: files, lastSeq: lastSeq)
    log.scheduleCompaction()
    return log
  }

  /// Reads one segment into the index; returns its size (after cutting off
  /// a torn end).
  private static func scan(
    _ segment: LogSegment, last: Bool, configuration: Configuration, logger: Logger, into index: inout LogIndex,
    deletions: inout [String: UInt64], lastSeq: inout UInt64
  ) throws(StoreError) -> UInt64 {
    let size = try segment.size()
    let header = LogFrame.segmentHeader(epoch: configuration.epoch)
    if size < UInt64(header.count) {
      // A segment whose creation a crash interrupted: only the last can be.
      guard last else { throw .corrupt(path: segment.path, detail: "it is shorter than its header") }
      segment.truncate(to: 0)
      try segment.write(header, at: 0)
      return UInt64(header.count)
    }
    let bytes = try segment.read(at: 0, length: Int(size))
    guard bytes.starts(with: LogFrame.magic) else {
      throw .foreign(path: segment.path, detail: "it is not a chat message log segment")
    }
    guard bytes.prefix(header.count).elementsEqual(header) else {
      throw .foreign(path: segment.path, detail: "it belongs to another store (its epoch differs)")
    }
    var offset = header.count
    var damage: String?
    let kept = bytes.withUnsafeBytes { bytes -> Int in
      while true {
        switch LogFrame.parse(bytes, at: offset) {
        case .end:
          return offset
        case .damaged(let reason):
          guard last else {
            damage = "\(reason) at offset \(offset)"
            return offset
          }
          logger.warning(
            "message log: cut off a torn record at the end of the last segment",
            metadata: ["segment": "\(segment.path)", "offset": "\(offset)", "bytes": "\(bytes.count - offset)", "reason": "\(reason)"])
          return offset
        case .frame(let parsed):
          let channel = String(decoding: bytes[parsed.channel], as: UTF8.self)
          lastSeq = max(lastSeq, parsed.seq)
          if parsed.kind == LogFrame.tombstoneKind {
            deletions[channel] = max(deletions[channel] ?? 0, parsed.seq)
            index.tombstones[segment.number, default: []].append(LogIndex.Tombstone(channel: channel, seq: parsed.seq))
          } else {
            index.add(
              channel,
              LogIndex.Entry(
                seq: parsed.seq, kind: parsed.kind, segment: segment.number, offset: UInt64(parsed.frame.lowerBound),
                length: UInt32(parsed.frame.count)))
          }
          offset = parsed.frame.upperBound
        }
      }
    }
    if let damage { throw .corrupt(path: segment.path, detail: damage) }
    if kept < bytes.count { segment.truncate(to: UInt64(kept)) }
    return UInt64(kept)
  }

  static func makeDirectory(_ directory: String) throws(StoreError) {
    do {
      try FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    } catch {
      throw .dataDirectory(path: directory, reason: "it could not be created: \(error.localizedDescription)")
    }
  }
}

/// Makes a file's creation, rename or removal in `directory` durable.
func syncDirectory(_ directory: String) {
  let fd = systemOpen(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
  guard fd >= 0 else { return }
  _ = fsync(fd)
  systemClose(fd)
}

extension StoreError {
  /// The reason of an `unavailable`, or the whole message.
  var reason: String {
    if case .unavailable(let reason) = self { return reason }
    return message
  }
}
