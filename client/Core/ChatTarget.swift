import ChatAPI

/// Where a message goes: `#group` or `@user`.
public enum ChatTarget: Hashable, Sendable, CustomStringConvertible {
  case group(String)
  case user(String)

  /// `#name` is a group, `@name` a user; anything else is not a target.
  public init?(parsing text: String) {
    guard let sigil = text.first, text.count > 1 else { return nil }
    let name = String(text.dropFirst())
    switch sigil {
    case "#": self = .group(name)
    case "@": self = .user(name)
    default: return nil
    }
  }

  /// Users and groups are separate namespaces; the raw value is the server's word for the name.
  public enum Kind: String, Sendable {
    case user = "username"
    case group = "group name"
  }

  public var kind: Kind {
    switch self {
    case .group: .group
    case .user: .user
    }
  }

  public var name: String {
    switch self {
    case .group(let name), .user(let name): name
    }
  }

  /// The same target with another spelling of its name (the server's, which
  /// compares names ignoring case).
  public func named(_ name: String) -> ChatTarget {
    switch self {
    case .group: .group(name)
    case .user: .user(name)
    }
  }

  /// Whether `channel` is this target, comparing names as the server does.
  public func matches(_ channel: Chat_V1_Channel) -> Bool {
    let type: Chat_V1_ChannelType =
      switch self {
      case .group: .group
      case .user: .user
      }
    return channel.type == type && channel.name.lowercased() == name.lowercased()
  }

  public var description: String {
    switch self {
    case .group(let name): "#\(name)"
    case .user(let name): "@\(name)"
    }
  }

  /// The channel `SendMessage` expects.
  public var channel: Chat_V1_Channel {
    .with {
      switch self {
      case .group(let name):
        $0.type = .group
        $0.name = name
      case .user(let name):
        $0.type = .user
        $0.name = name
      }
    }
  }
}
