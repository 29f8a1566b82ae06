import ChatAPI
import ChatClientCore
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// The session's calls over gRPC, each with the session's authorization as it is now.
struct GRPCChatCalls: ChatCalls {
  let chat: Chat_V1_ChatService.Client<HTTP2ClientTransport.Posix>
  let state: SessionState
  let options: CallOptions

  func createGroup(_ group: String) async throws {
    _ = try await chat.createGroupChat(.with { $0.group = group }, metadata: state.callMetadata(), options: options)
  }

  func joinGroup(_ group: String) async throws {
    _ = try await chat.joinGroupChat(.with { $0.group = group }, metadata: state.callMetadata(), options: options)
  }

  func leaveGroup(_ group: String) async throws {
    _ = try await chat.leaveGroupChat(.with { $0.group = group }, metadata: state.callMetadata(), options: options)
  }

  func listChannels() async throws -> [Chat_V1_Channel] {
    try await chat.listChannels(.init(), metadata: state.callMetadata(), options: options).channels
  }

  func listMembers(_ group: String) async throws -> [Chat_V1_Member] {
    try await chat.listMembers(.with { $0.group = group }, metadata: state.callMetadata(), options: options).members
  }

  func send(_ text: String, to target: ChatTarget) async throws {
    _ = try await chat.sendMessage(
      .with {
        $0.to = target.channel
        $0.text = text
      },
      metadata: state.callMetadata(),
      options: options)
  }

  func history(of target: ChatTarget, beforeSeq: UInt64, limit: Int) async throws -> Chat_V1_HistoryResponse {
    try await chat.history(
      .with {
        $0.channel = target.channel
        $0.beforeSeq = beforeSeq
        $0.limit = UInt32(limit)
      },
      metadata: state.callMetadata(),
      options: options)
  }

  func signUp(_ username: String, password: String) async throws -> AccountToken {
    token(for: username, try await chat.signUp(credentials(username, password), options: options))
  }

  func signIn(_ username: String, password: String) async throws -> AccountToken {
    token(for: username, try await chat.signIn(credentials(username, password), options: options))
  }

  func signOut() async throws {
    let metadata = try state.callMetadata()
    state.signingOut = true
    do {
      _ = try await chat.signOut(.init(), metadata: metadata, options: options)
    } catch {
      state.signingOut = false
      throw error
    }
  }

  private func credentials(_ username: String, _ password: String) -> Chat_V1_Credentials {
    .with {
      $0.username = username
      $0.password = password
    }
  }

  private func token(for username: String, _ response: Chat_V1_AuthToken) -> AccountToken {
    AccountToken(
      username: username, token: response.token,
      expiresAt: response.hasExpiresAt ? response.expiresAt.date : nil)
  }
}
