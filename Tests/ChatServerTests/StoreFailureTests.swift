import ChatAPI
import ChatStore
import Foundation
import GRPCCore
import Testing

@testable import ChatCore
@testable import ChatGRPC

/// A store whose disk is gone: every commit fails.
final class FailingStore: Store {
  let epoch = "failing"
  func load() throws(StoreError) -> StoredState { StoredState(epoch: epoch) }
  func submit(_ operations: [StoreOperation]) -> Acknowledgement { .failed(.unavailable("disk I/O error")) }
  func enqueue(_ operations: [StoreOperation]) -> StoreSubmission {
    StoreSubmission(acknowledgement: submit(operations), needsWake: false)
  }
  func wakeWriter() {}
  func close() async {}
}

@Suite("A store that cannot be written")
struct StoreFailureTests {
  @Test("calls that change stored state fail UNAVAILABLE naming the store's reason; reads go on")
  func unavailable() async throws {
    let h = RegistryHarness()
    let registry = try ChatRegistry(
      logger: .init(label: "failing"), limits: h.registry.limits, store: FailingStore(),
      format: ProtobufEventEncoding.self)
    let session = try registry.connect(ChatName.validate("una", as: .user))
    let caller = session.caller
    let durability = try registry.createGroup("g", by: caller)
    await #expect(throws: ChatError.storeUnavailable("disk I/O error")) { try await durability.wait() }
    let error = RPCError(ChatError.storeUnavailable("disk I/O error"))
    #expect(error.code == .unavailable)
    #expect(error.message.contains("disk I/O error"))
    // Reading needs no commit.
    #expect(try registry.listChannels(for: caller).count == 2)
  }
}
