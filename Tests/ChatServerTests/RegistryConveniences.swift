import ChatAPI

@testable import ChatCore
@testable import ChatGRPC

/// The registry's calls by user name, as a username-mode client makes them:
/// authentication first (which throws UNAUTHENTICATED for an unknown name),
/// then the call with the caller it found.
extension ChatRegistry {
  func caller(_ name: String) throws(ChatError) -> Caller {
    try authenticate(name, mode: .username, charge: false)
  }

  func createGroup(_ group: String, by name: String) throws(ChatError) {
    try createGroup(group, by: caller(name))
  }

  func joinGroup(_ group: String, by name: String) throws(ChatError) {
    try joinGroup(group, by: caller(name))
  }

  func leaveGroup(_ group: String, by name: String) throws(ChatError) {
    try leaveGroup(group, by: caller(name))
  }

  @discardableResult
  func send(_ text: String, to channel: Chat_V1_Channel, from name: String) throws(ChatError) -> UInt64 {
    let caller = try caller(name)
    return try send(text, to: channel.kind(), named: channel.name, from: caller).id
  }

  func listChannels(for name: String) throws(ChatError) -> [Chat_V1_Channel] {
    try listChannels(for: caller(name)).map(Chat_V1_Channel.init)
  }
}

extension SharedEvent {
  /// The event as a gRPC client receives it.
  func decoded() throws -> Chat_V1_Event {
    try Chat_V1_Event(serializedBytes: encoded(as: ProtobufEventEncoding.self))
  }
}

extension Chat_V1_Channel {
  init(_ name: String, _ type: Chat_V1_ChannelType) {
    self.init()
    self.name = name
    self.type = type
  }
}
