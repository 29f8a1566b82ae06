import Synchronization
import Testing

@testable import ChatCore
@testable import NGHTTP2Transport

/// A session's events pulled by the transport on its event loop (issue 11's
/// delivery without a task per event): the queue's signal and the outbox's
/// bookkeeping, without a connection.
@Suite("Delivery pulled by the transport")
struct PulledDeliveryTests {
  private static func message(_ seq: UInt64) -> SharedEvent {
    SharedEvent(.notice(text: "event \(seq)"), seq: seq)
  }

  /// Queues `event`, waking whatever that calls for (as the registry does after unlocking).
  private static func enqueue(_ event: SharedEvent, on queue: SessionQueue) -> SessionQueue.EnqueueResult {
    let (result, wakeup) = queue.enqueue(event)
    wakeup?.resume()
    return result
  }

  private static func taken(_ queue: SessionQueue) -> [UInt64]? {
    guard case .events(let batch) = queue.takeReady() else { return nil }
    return batch.map(\.seq)
  }

  @Test("the queue signals its puller once when events become pending, and again only after it took them")
  func signalsOncePerBatch() {
    let queue = SessionQueue(limitBytes: 1 << 20)
    let signals = Atomic(0)
    queue.pullWhenReady { signals.add(1, ordering: .relaxed) }
    #expect(signals.load(ordering: .relaxed) == 0)
    for seq: UInt64 in 1...3 { #expect(Self.enqueue(Self.message(seq), on: queue) == .queued) }
    #expect(signals.load(ordering: .relaxed) == 1)
    #expect(Self.taken(queue) == [1, 2, 3])
    #expect(Self.enqueue(Self.message(4), on: queue) == .queued)
    #expect(signals.load(ordering: .relaxed) == 2)
    #expect(Self.taken(queue) == [4])
    #expect(Self.taken(queue) == nil)
  }

  @Test("a puller attached after events were queued (a Welcome, a replay) is signalled at once")
  func signalsAtOnceWhenPending() {
    let queue = SessionQueue(limitBytes: 1 << 20)
    #expect(Self.enqueue(Self.message(1), on: queue) == .queued)
    let signals = Atomic(0)
    queue.pullWhenReady { signals.add(1, ordering: .relaxed) }
    #expect(signals.load(ordering: .relaxed) == 1)
    #expect(Self.taken(queue) == [1])
  }

  @Test("a puller that stops taking is ended as a slow consumer by queued bytes, and ended() says so")
  func slowPullerEnds() async {
    let event = Self.message(1)
    let queue = SessionQueue(limitBytes: event.queuedBytes * 3)
    queue.pullWhenReady {}
    var result = SessionQueue.EnqueueResult.queued
    var sent: UInt64 = 0
    while result == .queued, sent < 10 {
      sent += 1
      result = Self.enqueue(Self.message(sent), on: queue)
    }
    guard case .closed(let end) = result, case .slowConsumer = end else {
      Issue.record("the queue did not end the session: \(result)")
      return
    }
    #expect(sent == 4)
    let ended = await queue.ended()
    #expect(ended == end)
  }

  @Test("ended() waits for the session's end, and the events queued before it are still there to take")
  func endedWaits() async {
    let queue = SessionQueue(limitBytes: 1 << 20)
    queue.pullWhenReady {}
    #expect(Self.enqueue(Self.message(1), on: queue) == .queued)
    async let ended = queue.ended()
    queue.close(.shutdown)?.resume()
    #expect(await ended == .shutdown)
    #expect(Self.taken(queue) == [1])
    guard case .ended(.shutdown) = queue.takeReady() else {
      Issue.record("the queue did not report its end after its last events")
      return
    }
  }

  @Test("cancelling the task in ended() ends the session as disconnected")
  func cancelledEnded() async {
    let queue = SessionQueue(limitBytes: 1 << 20)
    let waiting = Task { await queue.ended() }
    waiting.cancel()
    #expect(await waiting.value == .disconnected)
    guard case .ended(.disconnected) = queue.takeReady() else {
      Issue.record("the queue was not closed by the cancellation")
      return
    }
  }

  @Test("the outbox lists a signalled source once per drain, however often it is signalled")
  func sourceListedOnce() {
    let (outbox, drains) = Self.outbox(sources: [1: { [[1, 2, 3]] }])
    outbox.signal(1)
    outbox.signal(1)
    #expect(drains.count.load(ordering: .relaxed) == 1)
    let pending = outbox.takeAll()
    #expect(pending.sources.map(\.0) == [1])
    #expect(pending.sources.first?.1() == [[1, 2, 3]])
    #expect(outbox.takeAll().sources.isEmpty)
    outbox.signal(1)
    #expect(drains.count.load(ordering: .relaxed) == 2)
    #expect(outbox.takeAll().sources.map(\.0) == [1])
  }

  @Test("a source signalled past the high-water mark is pulled once nghttp2 takes enough of its stream")
  func sourceHeldBackPastHighWater() {
    let (outbox, drains) = Self.outbox(sources: [1: { [] }, 3: { [] }])
    outbox.pulled([(1, 250)])
    outbox.signal(1)
    outbox.signal(3)
    #expect(outbox.takeAll().sources.map(\.0) == [3])
    outbox.consumed([(1, 100)])
    #expect(outbox.takeAll().sources.isEmpty)
    outbox.consumed([(1, 100)])
    #expect(outbox.takeAll().sources.map(\.0) == [1])
    #expect(drains.count.load(ordering: .relaxed) == 2)
  }

  /// An outbox with a 100-byte mark and these streams' sources, counting the drains it schedules.
  private static func outbox(
    sources: [Int32: @Sendable () -> [[UInt8]]]
  ) -> (ConnectionOutbox, drains: DrainCount) {
    let outbox = ConnectionOutbox(highWater: 100)
    let drains = DrainCount()
    outbox.setDrain { drains.count.add(1, ordering: .relaxed) }
    for (id, source) in sources.sorted(by: { $0.key < $1.key }) {
      outbox.open(id)
      outbox.attach(source, to: id)
    }
    return (outbox, drains)
  }

  @Test("a closed stream's source is never pulled")
  func closedStreamNotPulled() {
    let (outbox, _) = Self.outbox(sources: [1: { [[0]] }])
    outbox.signal(1)
    outbox.close(1)
    #expect(outbox.takeAll().sources.isEmpty)
    outbox.signal(1)
    #expect(outbox.takeAll().sources.isEmpty)
  }
}

/// Drains an outbox scheduled.
final class DrainCount: Sendable {
  let count = Atomic(0)
}
